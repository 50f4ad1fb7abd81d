# An offline package set shaped like a small nixpkgs, for tests and benchmarks.
#
# Every package is built with builtins.derivation and /bin/sh only (no
# nixpkgs, no coreutils): a /bin/sh builder writes a tar archive of the
# package tree (tar.sh), and Nix's builtin:unpack-channel builder unpacks it
# into the package's store path.  That two-step build gives real directories,
# executable bits and symlinks, which /bin/sh alone cannot make.
#
# Because builtin:unpack-channel insists on a single top-level entry, each
# package tree has exactly one top-level directory (bin, lib, share or etc).
#
# File contents are pseudo-random bytes from a per-file seed (blobgen.sh,
# tar.sh): reproducible, and incompressible for gzip, zstd and xz, so layer
# sizes behave like real ones.  Runtime dependencies are real Nix references:
# each package writes the store paths of its runtime dependencies into its
# first file (an "RPATH" line), and Nix finds them when it scans the output.
# Build-time-only inputs (the blob table, tar.sh, autoconf for htop) are used
# by the builder but never written into the output, so they stay out of the
# runtime closure.
#
# Usage: nix-build nix/testpkgs -A hello, or the package source
# `path!nix/testpkgs` in layerlab.
{ system ? builtins.currentSystem }:

let
  inherit (builtins) concatStringsSep concatMap filter genList hashString length listToAttrs
    sort substring stringLength elemAt;

  MB = 1000000;
  KB = 1000;

  # The blob generator's table: a build-time-only input of every package.
  blobgen = derivation {
    name = "blobgen-1.0";
    inherit system;
    builder = "/bin/sh";
    args = [ ./blobgen.sh ];
    seed = "20240229";
  };

  # "a/b/c" -> [ "a" "a/b" ]
  parentsOf = path:
    let parts = filter builtins.isString (builtins.split "/" path);
        n = length parts;
    in genList (i: concatStringsSep "/" (genList (j: elemAt parts j) (i + 1))) (n - 1);

  uniqueSorted = xs: builtins.attrNames (listToAttrs (map (x: { name = x; value = null; }) xs));

  quote = s: "'" + s + "'";

  seedOf = name: path: "0x" + substring 0 7 (hashString "sha256" "${name}/${path}");

  # mkPackage { pname, version, files, deps ? [], buildDeps ? [], preBuild ? "" }
  #   files: [ { path; size; exec ? false; } or { path; link; } or { path; text; } ]
  #   deps: runtime dependencies, written into the first regular file.
  mkPackage = { pname, version, files, deps ? [], buildDeps ? [], preBuild ? "", top ? null }:
    let
      name = "${pname}-${version}";
      topDir = if top != null then top else elemAt (builtins.split "/" (builtins.head files).path) 0;
      dirs = uniqueSorted (concatMap (f: parentsOf f.path) files);
      rpath = if deps == [] then "" else "RPATH=" + concatStringsSep ":" (map (d: "${d}/${d.topDir}") deps) + "\n";
      firstData = builtins.head (filter (f: f ? size) files);
      entry = f:
        if f ? link then "tar_link ${quote f.path} ${quote f.link}"
        else if f ? text then "tar_file ${quote f.path} 292 0 0 ${quote f.text}"
        else "tar_file ${quote f.path} ${if f.exec or false then "365" else "292"} ${toString f.size} "
          + "${seedOf name f.path} ${quote (if f.path == firstData.path then rpath else "")}";
      script = concatStringsSep "\n" (map (d: "tar_dir ${quote d}") dirs ++ map entry files);
      tarball = derivation {
        name = "${name}.tar";
        inherit system;
        builder = "/bin/sh";
        args = [ "-c" ''
          set -e
          . ${./tar.sh}
          . ${blobgen}
          ${preBuild}
          exec > "$out"
          ${script}
          tar_end
        '' ];
        runtimeDeps = deps;
        inherit buildDeps;
      };
      pkg = derivation {
        inherit name;
        system = "builtin";
        builder = "builtin:unpack-channel";
        src = tarball;
        channelName = topDir;
      };
    in pkg // { inherit pname version topDir tarball; meta = { description = name; }; };

  lib = name: size: { path = "lib/${name}"; inherit size; };
  bin = name: size: { path = "bin/${name}"; inherit size; exec = true; };
  link = path: target: { inherit path; link = target; };

  # splits a payload into files of at most 4 MB: "share/x/part-00.dat" ...
  payload = dir: total:
    let n = (total + 4 * MB - 1) / (4 * MB);
        sizeOf = i: if i < n - 1 then 4 * MB else total - 4 * MB * (n - 1);
        pad = i: if i < 10 then "0${toString i}" else toString i;
    in genList (i: { path = "${dir}/part-${pad i}.dat"; size = sizeOf i; }) n;

  self = rec {
    # --- the libc everything uses, and basic libraries -------------------------
    glibc = mkPackage {
      pname = "glibc"; version = "2.39-52";
      files = [ (lib "libc.so.6" (2200 * KB)) (lib "ld-linux-x86-64.so.2" (240 * KB))
                (lib "libm.so.6" (950 * KB)) (lib "libresolv.so.2" (70 * KB))
                (lib "gconv/gconv-modules.cache" (30 * KB)) (lib "locale/C.utf8/LC_CTYPE" (350 * KB)) ];
    };
    zlib = mkPackage {
      pname = "zlib"; version = "1.3.1"; deps = [ glibc ];
      files = [ (lib "libz.so.1.3.1" (120 * KB)) (link "lib/libz.so.1" "libz.so.1.3.1") ];
    };
    libffi = mkPackage { pname = "libffi"; version = "3.4.6"; deps = [ glibc ]; files = [ (lib "libffi.so.8" (60 * KB)) ]; };
    gmp = mkPackage { pname = "gmp"; version = "6.3.0"; deps = [ glibc ]; files = [ (lib "libgmp.so.10" (620 * KB)) ]; };
    pcre2 = mkPackage { pname = "pcre2"; version = "10.43"; deps = [ glibc ]; files = [ (lib "libpcre2-8.so.0" (600 * KB)) ]; };
    attr = mkPackage { pname = "attr"; version = "2.5.2"; deps = [ glibc ]; files = [ (lib "libattr.so.1" (40 * KB)) ]; };
    acl = mkPackage { pname = "acl"; version = "2.3.2"; deps = [ glibc attr ]; files = [ (lib "libacl.so.1" (50 * KB)) ]; };
    ncurses = mkPackage {
      pname = "ncurses"; version = "6.4"; deps = [ glibc ];
      files = [ (lib "libncursesw.so.6" (450 * KB)) ] ++ payload "lib/terminfo" (2 * MB);
    };
    readline = mkPackage { pname = "readline"; version = "8.2p10"; deps = [ glibc ncurses ]; files = [ (lib "libreadline.so.8" (350 * KB)) ]; };
    openssl = mkPackage {
      pname = "openssl"; version = "3.0.13"; deps = [ glibc zlib ];
      files = [ (lib "libcrypto.so.3" (4500 * KB)) (lib "libssl.so.3" (700 * KB)) (lib "engines-3/padlock.so" (40 * KB)) ];
    };
    nghttp2 = mkPackage { pname = "nghttp2"; version = "1.61.0"; deps = [ glibc ]; files = [ (lib "libnghttp2.so.14" (170 * KB)) ]; };
    sqlite = mkPackage { pname = "sqlite"; version = "3.45.3"; deps = [ glibc zlib ]; files = [ (lib "libsqlite3.so.0" (1500 * KB)) ]; };
    cacert = mkPackage { pname = "nss-cacert"; version = "3.98"; files = [ { path = "etc/ssl/certs/ca-bundle.crt"; size = 220 * KB; } ]; };
    iana-etc = mkPackage {
      pname = "iana-etc"; version = "20240318";
      files = [ { path = "etc/protocols"; size = 15 * KB; } { path = "etc/services"; size = 400 * KB; } ];
    };

    # --- programs ----------------------------------------------------------------
    bash = mkPackage {
      pname = "bash"; version = "5.2p26"; deps = [ glibc ];
      files = [ (bin "bash" (1100 * KB)) (link "bin/sh" "bash") ];
    };
    bashInteractive = mkPackage {
      pname = "bash-interactive"; version = "5.2p26"; deps = [ glibc readline ncurses ];
      files = [ (bin "bash" (1300 * KB)) (link "bin/sh" "bash") ];
    };
    coreutils = mkPackage {
      pname = "coreutils"; version = "9.5"; deps = [ glibc acl attr ];
      files = [ (bin "coreutils" (1600 * KB)) ]
        ++ map (c: link "bin/${c}" "coreutils") [ "cat" "cp" "echo" "env" "head" "ls" "mkdir" "mv" "rm" "sort" "tail" "wc" ];
    };
    perl = mkPackage {
      pname = "perl"; version = "5.38.2"; deps = [ glibc ];
      files = [ (bin "perl" (3800 * KB)) (link "bin/perl5.38.2" "perl") ];
    };
    moreutils = mkPackage { pname = "moreutils"; version = "0.69"; deps = [ glibc perl ]; files = [ (bin "sponge" (30 * KB)) (bin "ts" (20 * KB)) ]; };
    nano = mkPackage { pname = "nano"; version = "7.2"; deps = [ glibc ncurses ]; files = [ (bin "nano" (320 * KB)) ]; };
    less = mkPackage { pname = "less"; version = "643"; deps = [ glibc ncurses pcre2 ]; files = [ (bin "less" (200 * KB)) ]; };
    hello = mkPackage { pname = "hello"; version = "2.12.1"; deps = [ glibc ]; files = [ (bin "hello" (60 * KB)) ]; };

    # A build-time-only tool: htop's build reads its configuration, but htop
    # does not reference it.
    autoconf = mkPackage {
      pname = "autoconf"; version = "2.72"; deps = [ perl ];
      files = [ { path = "share/autoconf/autom4te.cfg"; size = 900 * KB; }
                { path = "share/autoconf/version.sh"; text = "AC_VERSION=2.72\n"; } ];
    };
    htop = mkPackage {
      pname = "htop"; version = "3.3.0"; deps = [ glibc ncurses ]; buildDeps = [ autoconf ];
      preBuild = ". ${autoconf}/share/autoconf/version.sh";
      files = [ (bin "htop" (350 * KB)) ];
    };

    curl = mkPackage {
      pname = "curl"; version = "8.7.1"; deps = [ glibc openssl zlib nghttp2 ];
      files = [ (bin "curl" (300 * KB)) ];
    };
    git = mkPackage {
      pname = "git"; version = "2.44.0"; deps = [ glibc zlib openssl curl perl pcre2 bash ];
      files = [ (bin "git" (3900 * KB)) (bin "git-remote-http" (1200 * KB))
                (link "bin/git-upload-pack" "git") (link "bin/git-receive-pack" "git") ];
    };

    # --- python with modules -----------------------------------------------------
    python3 = mkPackage {
      pname = "python3"; version = "3.11.9"; deps = [ glibc zlib openssl libffi sqlite ncurses readline ];
      files = [ (lib "libpython3.11.so.1.0" (4 * MB)) ] ++ payload "lib/python3.11" (6 * MB);
    };
    python3Packages = {
      recurseForDerivations = true;
      idna = mkPackage { pname = "python3.11-idna"; version = "3.6"; deps = [ python3 ]; files = [ (lib "python3.11/site-packages/idna/core.py" (300 * KB)) ]; };
      certifi = mkPackage { pname = "python3.11-certifi"; version = "2024.2.2"; deps = [ python3 cacert ]; files = [ (lib "python3.11/site-packages/certifi/core.py" (10 * KB)) ]; };
      urllib3 = mkPackage { pname = "python3.11-urllib3"; version = "2.2.1"; deps = [ python3 ]; files = [ (lib "python3.11/site-packages/urllib3/poolmanager.py" (500 * KB)) ]; };
      requests = mkPackage {
        pname = "python3.11-requests"; version = "2.31.0";
        deps = with python3Packages; [ python3 idna certifi urllib3 ];
        files = [ (lib "python3.11/site-packages/requests/api.py" (400 * KB)) ];
      };
      openblas = mkPackage { pname = "openblas"; version = "0.3.27"; deps = [ glibc ]; files = [ (lib "libopenblas.so.0" (5 * MB)) ]; };
      numpy = mkPackage {
        pname = "python3.11-numpy"; version = "1.26.4"; deps = [ python3 python3Packages.openblas ];
        files = payload "lib/python3.11/site-packages/numpy" (5 * MB);
      };
    };
    # python3.withPackages (ps: [ ps.requests ps.numpy ])
    pythonEnv = mkPackage {
      pname = "python3"; version = "3.11.9-env";
      deps = with python3Packages; [ python3 requests numpy ];
      files = [ (bin "python3" (20 * KB)) ];
    };

    # --- nested sets -------------------------------------------------------------
    xorg = {
      recurseForDerivations = true;
      libXau = mkPackage { pname = "libXau"; version = "1.0.11"; deps = [ glibc ]; files = [ (lib "libXau.so.6" (20 * KB)) ]; };
      libxcb = mkPackage { pname = "libxcb"; version = "1.16"; deps = [ glibc xorg.libXau ]; files = [ (lib "libxcb.so.1" (180 * KB)) ]; };
      libX11 = mkPackage { pname = "libX11"; version = "1.8.7"; deps = [ glibc xorg.libxcb ]; files = [ (lib "libX11.so.6" (1400 * KB)) ]; };
      xev = mkPackage { pname = "xev"; version = "1.2.5"; deps = [ glibc xorg.libX11 ]; files = [ (bin "xev" (50 * KB)) ]; };
    };
    haskellPackages = {
      recurseForDerivations = true;
      stylish-haskell = mkPackage {
        pname = "stylish-haskell"; version = "0.14.5.0"; deps = [ glibc gmp libffi ];
        files = [ (bin "stylish-haskell" (8 * MB)) ];
      };
      hlint = mkPackage { pname = "hlint"; version = "3.6.1"; deps = [ glibc gmp libffi ]; files = [ (bin "hlint" (6 * MB)) ]; };
    };

    # --- a big package: over 100 MB of closure -----------------------------------
    texlive-bin = mkPackage {
      pname = "texlive-bin"; version = "2023"; deps = [ glibc zlib ];
      files = [ (bin "pdftex" (3 * MB)) (bin "luatex" (5 * MB)) (link "bin/tex" "pdftex") ];
    };
    texlive-fonts = mkPackage {
      pname = "texlive-fonts"; version = "2023"; files = payload "share/texmf-dist/fonts" (38 * MB);
    };
    texliveFull = mkPackage {
      pname = "texlive-combined-full"; version = "2023";
      deps = [ texlive-bin texlive-fonts perl python3 ];
      files = payload "share/texmf-dist/tex" (36 * MB);
    };
  };
in
self
