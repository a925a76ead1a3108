// Exceptions in words. See detail/exception_text.hpp.
#include "mapreduce/detail/exception_text.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <iterator>
#include <memory>
#include <new>
#include <typeinfo>

#include <fmt/format.h>

#include "mapreduce/error.hpp"

namespace mapreduce::detail {

static std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 && d ? std::string(d.get()) : std::string(name);
}

// Whether the exception being handled is a mapreduce::InputError: it reaches the caller
// as one, so a file that changed under the job is an input error, not a job failure.
bool current_is_input_error() {
  try {
    throw;
  } catch (const InputError&) {
    return true;
  } catch (...) {
    return false;
  }
}

bool current_is_bad_alloc() {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return true;
  } catch (...) {
    return false;
  }
}

std::string describe_bytes(std::uint64_t bytes) {
  static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return fmt::format("{} bytes", bytes);
  double v = static_cast<double>(bytes) / 1024;
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  return v == static_cast<double>(static_cast<std::uint64_t>(v))
             ? fmt::format("{} {}", static_cast<std::uint64_t>(v), units[u])
             : fmt::format("{:.1f} {}", v, units[u]);
}

// "std::runtime_error: what" for the exception being handled.
std::string describe_current_exception() {
  const std::type_info* t = abi::__cxa_current_exception_type();
  const std::string type = t != nullptr ? demangle(t->name()) : "unknown exception";
  try {
    throw;
  } catch (const std::exception& e) {
    return fmt::format("{}: {}", type, e.what());
  } catch (...) {
    return fmt::format("exception of type {}", type);
  }
}

}  // namespace mapreduce::detail
