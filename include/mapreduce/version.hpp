#pragma once
// The one source of the version: CMakeLists.txt parses these three lines.
#define MAPREDUCE_VERSION_MAJOR 0
#define MAPREDUCE_VERSION_MINOR 1
#define MAPREDUCE_VERSION_PATCH 0

namespace mapreduce {
/// The library version as "major.minor.patch".
inline constexpr const char* version_string = "0.1.0";
}  // namespace mapreduce
