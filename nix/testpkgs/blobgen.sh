# Builder of the blob generator's table (run by /bin/sh, shell builtins only).
#
# Writes a shell file that defines P0..P63, each a string of 1024 references
# to the variables p0..p255 chosen by a fixed pseudo-random sequence, and S,
# their concatenation.  tar.sh expands S after binding p0..p255 to a fresh
# permutation of the 256 byte values, which yields 64 KiB of output that no
# LZ-family compressor can shrink.
x=${seed:-20240229}
exec > "$out"
printf '# blob generator table, seed %s\n' "$x"
k=0
while [ $k -lt 64 ]; do
  s=
  i=0
  while [ $i -lt 256 ]; do
    x=$(( (x * 1103515245 + 12345) & 2147483647 )); a=$(( x >> 23 ))
    x=$(( (x * 1103515245 + 12345) & 2147483647 )); b=$(( x >> 23 ))
    x=$(( (x * 1103515245 + 12345) & 2147483647 )); c=$(( x >> 23 ))
    x=$(( (x * 1103515245 + 12345) & 2147483647 )); d=$(( x >> 23 ))
    s="$s\$p$a\$p$b\$p$c\$p$d"
    i=$((i + 1))
  done
  printf "P%d='%s'\n" "$k" "$s"
  k=$((k + 1))
done
printf 'S='
k=0
while [ $k -lt 64 ]; do printf '$P%d' "$k"; k=$((k + 1)); done
printf '\n'
