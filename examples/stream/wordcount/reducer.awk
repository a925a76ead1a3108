# Word count reducer for mapreduce-stream, in awk: the input is sorted by word, so sum
# each run of lines with the same word.
BEGIN { FS = "\t" }
NR > 1 && $1 != word { print word "\t" total; total = 0 }
{ word = $1; total += $2 }
END { if (NR > 0) print word "\t" total }
