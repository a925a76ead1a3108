#pragma once

namespace mapreduce {

/// What becomes of the lines worker processes write to their stdout and stderr (your
/// mapper's printf, a streaming command's diagnostics).
enum class WorkerOutput {
  /// Passed on by the parent line by line, each line written whole with one write(2), so
  /// the lines of workers writing at once never cut into each other. (A line longer than
  /// 64 KiB is passed on in pieces.) On a terminal each line first erases the line the
  /// cursor is on, so it never lands after a progress line drawn without a newline.
  lines,
  /// As `lines`, each line prefixed with where it came from: "[map worker 2 task 17] ".
  prefixed,
  /// The workers write to the parent's descriptors directly, as forked processes do.
  inherit,
};

}  // namespace mapreduce
