#pragma once
// How the benchmarks' data generators write their output: to FILE, or to standard output
// for "-", unbuffered (each write call hands over a whole buffer), every error reported.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace bench {

// Opens `path`, calls write(f) (false: a write failed, errno says why), flushes and closes.
// Returns the program's exit status: 0, or 1 after a line on stderr naming `program`, the
// output and the error.
template <class Write>
int write_output(const char* program, const std::string& path, Write&& write) {
  const bool to_stdout = path == "-";
  const std::string name = to_stdout ? std::string("standard output") : "'" + path + "'";
  std::FILE* f = to_stdout ? stdout : std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::fprintf(stderr, "%s: cannot open %s for writing: %s\n", program, name.c_str(), std::strerror(errno));
    return 1;
  }
  std::setvbuf(f, nullptr, _IONBF, 0);  // whole buffers go straight to write(2)
  bool ok = write(f);
  int write_errno = errno;
  if (std::fflush(f) != 0 && ok) {
    ok = false;
    write_errno = errno;
  }
  if (!to_stdout && std::fclose(f) != 0 && ok) {
    ok = false;
    write_errno = errno;
  }
  if (!ok) {
    std::fprintf(stderr, "%s: cannot write %s: %s\n", program, name.c_str(), std::strerror(write_errno));
    return 1;
  }
  return 0;
}

}  // namespace bench
