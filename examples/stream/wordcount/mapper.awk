# Word count mapper for mapreduce-stream, in awk (run with LC_ALL=C so bytes are bytes):
# every byte that is not an ASCII letter, an ASCII digit or 0x80 and above separates words.
{
  gsub(/[^A-Za-z0-9\200-\377]+/, " ")
  n = split($0, words, " ")
  for (i = 1; i <= n; i++) print tolower(words[i]) "\t1"
}
