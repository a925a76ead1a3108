#pragma once
// A child's end in words, for programs that start processes of their own (mapreduce-stream
// does) and want their errors to read like the library's.
#include <string>

namespace mapreduce {

/// "exited with status 3", "was killed by signal 9 (SIGKILL)": a waitpid(2) status in words.
std::string describe_wait_status(int status);

}  // namespace mapreduce
