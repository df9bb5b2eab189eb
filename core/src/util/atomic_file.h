// Crash-safe file replacement: write to a temporary file beside the target, fsync it,
// rename it over the target, fsync the folder. A kill at any point leaves either the old
// file or the new one, never a half-written file.
#pragma once

#include <string>
#include <vector>

namespace ctlab {

// A temporary path beside `path` unique to this process.
std::string temp_path_for(const std::string& path);
// fsync(tmp), rename(tmp, path), fsync(folder). Throws ctlab::Error with errno's message.
void commit_temp_file(const std::string& tmp, const std::string& path);
// Writes `content` atomically. A failed write (full disk, I/O error) throws ctlab::Error
// with the system's message, removes the temporary file and leaves `path` as it was.
void write_file_atomic(const std::string& path, const std::string& content);
// The temporary files (<name>.tmp.<pid>) in `dir` whose writer process is gone.
std::vector<std::string> stale_temp_files(const std::string& dir);
// Removes the temporary files (<name>.tmp.<pid>) in `dir` left by writers that died before
// renaming them (their process is gone). Returns how many were removed.
int remove_stale_temp_files(const std::string& dir);

}  // namespace ctlab
