#pragma once
// Exceptions from user code, in words: a worker reports them to the parent as text, since
// an exception object cannot cross a process boundary.
#include <cstdint>
#include <string>

namespace mapreduce::detail {

// "std::runtime_error: what" for the exception being handled (call it in a catch block).
std::string describe_current_exception();

// Whether the exception being handled is a mapreduce::InputError (call it in a catch block):
// it reaches the caller as one, so a file that changed under the job is an input error.
bool current_is_input_error();

// Whether the exception being handled is std::bad_alloc (call it in a catch block).
bool current_is_bad_alloc();

// A size in words: "2 GiB", "64 MiB", "1.5 KiB", "100 bytes".
std::string describe_bytes(std::uint64_t bytes);

}  // namespace mapreduce::detail
