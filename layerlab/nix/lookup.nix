# Package lookup for layerlab: import a package source, find the requested
# packages, and expose them for evaluation and building.
#
# Every argument is a string passed with --argstr, so no value is ever spliced
# into Nix code:
#   sourceType  "nixpkgs" | "git" | "path" | "flake"
#   location    channel name, git URL, absolute directory or flake reference
#   rev         git commit (40 hex digits) or ref (branch, tag); "" otherwise
#   packages    JSON list of attribute paths ("xorg.xev")
#   system      e.g. "x86_64-linux"
#
# Attributes:
#   lookup  { system; nixVersion; packages = { <name> = { drv, out }; }; not_found = [ names ]; }
#           (plain strings: evaluate with nix-instantiate --eval --strict --json)
#   build   the requested derivations (a list), for nix-build
#   graph   a derivation whose output is the structured-attrs
#           exportReferencesGraph JSON of the requested packages' closure
#   all     { <attribute path> = { drv, out, name }; } for every
#           derivation of the source, recursing into sets that set
#           recurseForDerivations (as nix-env -qa does)
#
# Lookup rules (as Nixery's): a name is a dotted attribute path; when it does
# not resolve, the top-level component is looked up case-insensitively (image
# names cannot hold upper case: "haskellpackages.stylish-haskell" finds
# haskellPackages.stylish-haskell; "HELLO" finds hello).  Nested components
# are never case-folded.
# Every name that does not resolve to a derivation is reported in not_found.
{ sourceType, location, rev ? "", packages ? "[]", system ? builtins.currentSystem }:

let
  inherit (builtins) attrNames filter foldl' fromJSON getAttr hasAttr head isAttrs isString
    listToAttrs map match replaceStrings split stringLength tail tryEval;

  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  toLower = replaceStrings upper lower;

  # a package set is a function (given `system` when it takes that argument)
  # or an attribute set
  importSet = src:
    let f = import src;
    in if builtins.isFunction f then f (builtins.intersectAttrs (builtins.functionArgs f) { inherit system; }) else f;

  importSource =
    if sourceType == "nixpkgs" then
      importSet (builtins.fetchTarball "https://github.com/NixOS/nixpkgs/archive/${location}.tar.gz")
    else if sourceType == "git" then
      importSet (builtins.fetchGit (if match "[0-9a-f]{40}" rev != null
        then { url = location; inherit rev; }
        else { url = location; ref = rev; }))
    else if sourceType == "path" then
      importSet (/. + location)
    else if sourceType == "flake" then
      let flake = builtins.getFlake location;
          outputs = flake.outputs or flake;
      in if outputs ? legacyPackages.${system} then outputs.legacyPackages.${system}
         else if outputs ? packages.${system} then outputs.packages.${system}
         else throw "flake ${location} has neither legacyPackages.${system} nor packages.${system}"
    else throw "unknown package source type ${sourceType}";

  pkgs = importSource;

  isDerivation = v: isAttrs v && (v.type or null) == "derivation";

  # { ok, value } for an attribute path given as a list of names
  getPath = set: parts:
    if parts == [] then { ok = true; value = set; }
    else if isAttrs set && hasAttr (head parts) set then getPath (getAttr (head parts) set) (tail parts)
    else { ok = false; };

  # lower-cased top-level name -> name; when two names differ only in case,
  # the one already in lower case wins (listToAttrs keeps the first)
  hasUpper = s: match ".*[A-Z].*" s != null;
  topNames = attrNames pkgs;
  lowercased = listToAttrs (map (k: { name = toLower k; value = k; })
    (filter (k: !hasUpper k) topNames ++ filter hasUpper topNames));

  fetch = name:
    let parts = filter isString (split "\\." name);
        direct = getPath pkgs parts;
        top = toLower (head parts);
        amended = if hasAttr top lowercased
          then getPath pkgs ([ (getAttr top lowercased) ] ++ tail parts)
          else { ok = false; };
        found = if direct.ok then direct else amended;
    in if found.ok && isDerivation found.value then { inherit name; drv = found.value; } else { inherit name; missing = true; };

  requested = fromJSON packages;
  fetched = map fetch requested;
  found = filter (r: !(r ? missing)) fetched;
  notFound = map (r: r.name) (filter (r: r ? missing) fetched);

  describe = drv: { drv = drv.drvPath; out = drv.outPath; };

  # every derivation, recursing like nix-env -qa
  collect = prefix: set:
    foldl' (acc: name:
      let attempt = tryEval (getAttr name set);
          v = attempt.value;
          path = if prefix == "" then name else "${prefix}.${name}";
          isDrv = attempt.success && (tryEval (isDerivation v)).value == true;
          recurse = attempt.success && isAttrs v && !isDrv && (v.recurseForDerivations or false) == true;
          described = tryEval (builtins.deepSeq [ v.drvPath v.outPath v.name ] (describe v // { name = v.name; }));
      in if isDrv && described.success then acc // { ${path} = described.value; }
         else if recurse then acc // collect path v
         else acc) {} (attrNames set);
in
{
  lookup = {
    inherit system;
    nixVersion = builtins.nixVersion;
    packages = listToAttrs (map (r: { name = r.name; value = describe r.drv; }) found);
    not_found = notFound;
  };

  # the requested derivations, for nix-build
  build =
    if notFound != [] then throw "layerlab: not_found ${builtins.toJSON notFound}"
    else map (r: r.drv) found;

  graph =
    if notFound != [] then throw "layerlab: not_found ${builtins.toJSON notFound}"
    else derivation {
      name = "layerlab-closure-graph";
      inherit system;
      builder = "/bin/sh";
      __structuredAttrs = true;
      exportReferencesGraph.graph = map (r: r.drv) found;
      # /bin/sh only: find $out in .attrs.sh and copy .attrs.json to it
      args = [ "-c" ''
        while IFS= read -r line; do
          case $line in
            "declare -A outputs="*) o=''${line#*\[\'out\'\]=\'}; out=''${o%%\'*} ;;
          esac
        done < "$NIX_ATTRS_SH_FILE"
        IFS= read -r json < "$NIX_ATTRS_JSON_FILE" || [ -n "$json" ]
        printf '%s' "$json" > "$out"
      '' ];
    };

  all = collect "" pkgs;
}
