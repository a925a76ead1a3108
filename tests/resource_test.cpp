// The engine's mappings (shared segments, spill files, input files) and zeroed slot arrays.
// The detail headers come first: with nothing before them, they must not have brought the
// OS or Boost.Interprocess headers along, since the public headers reach them.
#include "mapreduce/detail/file_plan.hpp"
#include "mapreduce/detail/resource.hpp"
#include "mapreduce/detail/slot_array.hpp"

#if defined(MAP_SHARED) || defined(O_RDONLY) || defined(BOOST_INTERPROCESS_MAPPED_REGION_HPP)
#error "a detail header reached from the public ones includes OS or Boost.Interprocess headers"
#endif

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "support.hpp"

using mapreduce::detail::FilePlan;
using mapreduce::detail::MappedRegion;
using mapreduce::detail::SharedSegment;
using mapreduce::detail::SlotArray;
using mapreduce::detail::UniqueFd;

namespace {

// Sends `fd` over a Unix socket and returns the descriptor received: another number for
// the same open file, as a worker gets a segment.
UniqueFd pass_fd(int fd) {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  const UniqueFd a(sv[0]), b(sv[1]);
  char byte = 'x';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  REQUIRE(::sendmsg(a.get(), &msg, 0) == 1);
  msghdr in{};
  in.msg_iov = &iov;
  in.msg_iovlen = 1;
  in.msg_control = control;
  in.msg_controllen = sizeof(control);
  REQUIRE(::recvmsg(b.get(), &in, MSG_CMSG_CLOEXEC) == 1);
  int got = -1;
  std::memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&in)), sizeof(int));
  return UniqueFd(got);
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

// Runs f() in a child process and returns its wait status.
template <class F>
int in_child(F&& f) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 1;
    try {
      code = f() ? 0 : 1;
    } catch (...) {
    }
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace

TEST_CASE("a segment written by one process is read through a passed descriptor", "[resource]") {
  const std::size_t n = 3 * 4096 + 17;  // not a whole number of pages
  const std::string bytes = pattern(n);
  UniqueFd passed;
  {
    SharedSegment seg = SharedSegment::create(n);
    REQUIRE(seg.size() == n);
    REQUIRE(seg.fd() >= 0);
    REQUIRE_FALSE(seg.in_file());
    std::memcpy(seg.data(), bytes.data(), n);
    passed = pass_fd(seg.fd());
    REQUIRE(passed.get() != seg.fd());
  }  // the writer's descriptor and mapping are gone: the received descriptor holds it all

  const SharedSegment reader = SharedSegment::open(passed.get());
  REQUIRE(reader.size() == n);
  REQUIRE(reader.fd() == -1);         // borrowed, not owned
  reader.populate(0, reader.size());  // paged in at once; the bytes are the same
  CHECK(std::string(reader.data(), reader.size()) == bytes);

  // Another process (a reducer) maps the same bytes.
  const int status = in_child([&] {
    const SharedSegment s = SharedSegment::open(passed.get());
    return std::string(s.data(), s.size()) == bytes;
  });
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  // The reader's mapping is read-only: a write is a SIGSEGV, not a change.
  const int write_status = in_child([&] {
    std::signal(SIGSEGV, SIG_DFL);  // die by it, also under AddressSanitizer's handler
    reader.data()[0] = 'Z';
    return true;
  });
  CHECK(WIFSIGNALED(write_status));
  CHECK(WTERMSIG(write_status) == SIGSEGV);
  CHECK(reader.data()[0] == bytes[0]);
}

TEST_CASE("a writable segment and a read-only one of the same descriptor share their pages", "[resource]") {
  SharedSegment seg = SharedSegment::create(100);
  const SharedSegment view = SharedSegment::open(seg.fd());
  REQUIRE(view.size() == 100);
  CHECK(view.data() != seg.data());
  seg.data()[42] = 'q';
  CHECK(view.data()[42] == 'q');
}

TEST_CASE("an empty segment maps nothing", "[resource]") {
  const SharedSegment seg = SharedSegment::create(0);
  CHECK(seg.size() == 0);
  CHECK(seg.data() == nullptr);
  REQUIRE(seg.fd() >= 0);
  const SharedSegment view = SharedSegment::open(seg.fd());
  CHECK(view.size() == 0);
  CHECK(view.data() == nullptr);
  view.populate(0, 0);  // nothing to page in; no harm

  const MappedRegion none = MappedRegion::map(seg.fd(), 0, false, "nothing");
  CHECK(none.data() == nullptr);
  CHECK(none.size() == 0);

  const test::TempDir dir;
  const SharedSegment spill = SharedSegment::create_file(0, dir.path().string());
  CHECK(spill.in_file());
  CHECK(spill.size() == 0);
  CHECK(spill.data() == nullptr);
}

TEST_CASE("a spill segment lives in an unnamed file of its directory", "[resource]") {
  const test::TempDir dir;
  const std::size_t n = 5 * 4096 + 3;
  const std::string bytes = pattern(n);
  SharedSegment seg = SharedSegment::create_file(n, dir.path().string());
  REQUIRE(seg.in_file());
  REQUIRE(seg.size() == n);
  std::memcpy(seg.data(), bytes.data(), n);
  CHECK(std::filesystem::is_empty(dir.path()));  // no name to find or leave behind

  struct stat st {};
  REQUIRE(::fstat(seg.fd(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(static_cast<std::size_t>(st.st_size) == n);

  const UniqueFd passed = pass_fd(seg.fd());
  seg = SharedSegment();  // the writer lets go
  const SharedSegment reader = SharedSegment::open(passed.get());
  reader.populate(0, reader.size());  // paged in at once; the bytes are the same
  CHECK(std::string(reader.data(), reader.size()) == bytes);
}

TEST_CASE("a written segment holds its pieces in order, then zeros, in memory or in a spill file", "[resource]") {
  const test::TempDir dir;
  // More pieces than one pwritev takes (1024), some empty, one across several pages.
  const std::string big = pattern(3 * 4096 + 5);
  std::vector<std::string> owned;
  for (int i = 0; i < 1500; ++i) owned.push_back(i % 7 == 0 ? std::string() : std::to_string(i) + ";");
  std::vector<std::string_view> pieces(owned.begin(), owned.end());
  pieces.insert(pieces.begin() + 700, big);
  std::string expected;
  for (const std::string_view p : pieces) expected += p;
  const std::size_t slack = 100;
  for (const bool spill : {false, true}) {
    INFO((spill ? "spill file" : "memory"));
    const SharedSegment seg = SharedSegment::create_written(expected.size() + slack, pieces,
                                                            spill ? dir.path().string() : std::string());
    CHECK(seg.data() == nullptr);  // never mapped by its writer
    CHECK(seg.size() == expected.size() + slack);
    CHECK(seg.in_file() == spill);
    const UniqueFd passed = pass_fd(seg.fd());
    const SharedSegment reader = SharedSegment::open(passed.get());
    REQUIRE(reader.size() == expected.size() + slack);
    CHECK(std::string(reader.data(), expected.size()) == expected);
    CHECK(std::string(reader.data() + expected.size(), slack) == std::string(slack, '\0'));
  }
  CHECK(std::filesystem::is_empty(dir.path()));

  // More bytes than the segment holds, or a directory that is not there: an Error that says so.
  CHECK_THROWS_WITH(SharedSegment::create_written(3, {std::string_view("four")}),
                    Catch::Contains("cannot write 3 bytes of shared memory"));
  CHECK_THROWS_WITH(SharedSegment::create_written(4, {std::string_view("four")}, "/nonexistent/spill"),
                    Catch::Contains("/nonexistent/spill"));
}

TEST_CASE("mapping errors are one-line messages naming what was mapped", "[resource]") {
  const auto one_line = [](const std::string& m) { return m.find('\n') == std::string::npos; };

  SECTION("a descriptor that is not open") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    ::close(fds[0]);
    ::close(fds[1]);  // fds[0] is now a closed number (nothing else opens one meanwhile)
    try {
      (void)SharedSegment::open(fds[0]);
      FAIL("no exception");
    } catch (const mapreduce::Error& e) {
      const std::string m = e.what();
      CHECK(m.find("shared-memory segment") != std::string::npos);
      CHECK(m.find(std::strerror(EBADF)) != std::string::npos);
      CHECK(one_line(m));
    }
  }
  SECTION("a descriptor that cannot be mapped") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const UniqueFd r(fds[0]), w(fds[1]);
    try {
      (void)MappedRegion::map(r.get(), 10, false, "the pipe");
      FAIL("no exception");
    } catch (const mapreduce::Error& e) {
      const std::string m = e.what();
      CHECK(m.rfind("the pipe: cannot map 10 bytes: ", 0) == 0);
      CHECK(m.size() > std::strlen("the pipe: cannot map 10 bytes: "));  // and why
      CHECK(one_line(m));
    }
  }
  SECTION("a read-only descriptor mapped for writing") {
    const test::TempDir dir;
    const auto path = dir.write("ro", "some bytes");
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    CHECK_THROWS_WITH(MappedRegion::map(fd.get(), 10, true, "ro"),
                      Catch::StartsWith("ro: cannot map 10 bytes: ") && Catch::Contains(std::strerror(EACCES)));
    const MappedRegion ok = MappedRegion::map(fd.get(), 10, false, "ro");
    CHECK(std::string(ok.data(), ok.size()) == "some bytes");
  }
  SECTION("a spill directory that does not exist") {
    const test::TempDir dir;
    const std::string missing = (dir.path() / "missing").string();
    CHECK_THROWS_WITH(SharedSegment::create_file(10, missing),
                      Catch::Contains(missing) && Catch::Contains(std::strerror(ENOENT)));
  }
}

TEST_CASE("mappings move, and unmap once", "[resource]") {
  SharedSegment a = SharedSegment::create(4096);
  a.data()[0] = 'a';
  char* const p = a.data();
  const int fd = a.fd();
  SharedSegment b = std::move(a);
  CHECK(b.data() == p);
  CHECK(b.size() == 4096);
  CHECK(b.fd() == fd);
  CHECK(a.data() == nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  CHECK(a.size() == 0);
  CHECK(a.fd() == -1);

  SharedSegment c = SharedSegment::create(10);
  c = std::move(b);  // c's old mapping goes; b's moves in
  CHECK(c.data() == p);
  CHECK(c.data()[0] == 'a');

  MappedRegion r = MappedRegion::map(c.fd(), 4096, false, "again");
  MappedRegion s;
  s = std::move(r);
  CHECK(s.data()[0] == 'a');
  CHECK(r.data() == nullptr);  // NOLINT(bugprone-use-after-move)
  s.reset();
  CHECK(s.data() == nullptr);
  CHECK(s.size() == 0);
}

TEST_CASE("FilePlan maps each file of its tasks, past the bound of files mapped at once", "[resource]") {
  const test::TempDir dir;
  std::vector<std::filesystem::path> paths;
  std::vector<std::string> contents;
  std::string all;
  for (int i = 0; i < 70; ++i) {  // more than the 64 files a worker keeps mapped
    std::string content;
    for (int j = 0; j <= i % 5; ++j) content += "file " + std::to_string(i) + " line " + std::to_string(j) + "\n";
    paths.push_back(dir.write("f" + std::to_string(i), content));
    all += content;
    contents.push_back(std::move(content));
  }
  FilePlan plan(mapreduce::FileInput{paths}, 40, std::size_t(1) << 20);
  REQUIRE(plan.total_bytes() == all.size());
  std::string seen;
  for (int pass = 0; pass < 2; ++pass) {  // the second pass maps the evicted files again
    seen.clear();
    for (std::size_t t = 0; t < plan.tasks(); ++t) {
      plan.for_each_chunk(t, [&](std::string_view chunk, const mapreduce::ChunkSource& from) {
        REQUIRE(from.file < paths.size());
        CHECK(from.path == paths[from.file].string());
        CHECK(contents[from.file].compare(from.offset, chunk.size(), chunk) == 0);
        seen += chunk;
      });
    }
    CHECK(seen == all);
  }
}

TEST_CASE("slot arrays are zeroed, and aligned on a huge page when large", "[resource]") {
  SlotArray<std::uint64_t> small(1000);
  for (std::size_t i = 0; i < 1000; ++i) REQUIRE(small[i] == 0);
  small[999] = 7;

  const std::size_t n = mapreduce::detail::huge_page_bytes / sizeof(std::uint64_t) + 3;
  SlotArray<std::uint64_t> large(n);
  CHECK(reinterpret_cast<std::uintptr_t>(&large[0]) % mapreduce::detail::huge_page_bytes == 0);
  CHECK(large[0] == 0);
  CHECK(large[n - 1] == 0);
  large[n - 1] = 1;

  SlotArray<std::uint64_t> moved = std::move(large);
  CHECK(moved[n - 1] == 1);
  moved = SlotArray<std::uint64_t>(0);  // the large array is released; an empty one costs nothing

  SlotArray<std::string> owned(3);  // not trivially copyable: new[]
  CHECK(owned[2].empty());
}
