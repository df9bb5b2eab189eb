// TensorBoard event files: a run's scalars and hyperparameters in the format TensorBoard
// reads (runs/<run_id>/tensorboard/events.out.tfevents.*). A file is a sequence of
// records: the data's length (8 bytes, little-endian), the masked CRC-32C of those 8
// bytes, the data (one Event protobuf), and the masked CRC-32C of the data.
//
// This file and the protobuf code behind it include no LibTorch header and are built as a
// library of their own: the torch wheel's include folder carries protobuf headers of
// another version than the protobuf library ctlab links.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ctlab {

// CRC-32C (Castagnoli polynomial, reflected), and the rotation plus constant TensorFlow's
// record format applies to it ("masked") so that a CRC over data holding CRCs stays strong.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

struct TbScalar {
  std::string tag;
  int64_t step = 0;
  double value = 0;      // stored as float32, as TensorBoard keeps scalars
  double wall_time = 0;  // seconds since the Unix epoch
};

enum class TbSessionEnd { Success, Failure };

// One record read back: its event's step and time, and what it holds.
struct TbRecord {
  int64_t step = 0;
  double wall_time = 0;
  std::string file_version;                                  // the file's first record
  std::vector<std::pair<std::string, float>> values;         // (tag, simple_value)
  bool session_start = false;                                // the hparams plugin's start record
  std::vector<std::pair<std::string, std::string>> hparams;  // its values, as text
  std::string group;                                         // its group name
  bool session_end = false;                                  // the hparams plugin's end record
  int64_t end_offset = 0;                                    // the byte just past this record
};

struct TbReadResult {
  std::vector<TbRecord> records;
  int64_t intact_bytes = 0;  // the length of the prefix of whole, checksummed records
};

// Every intact record of an event file, stopping at the first torn or corrupt one. Throws
// ctlab::Error naming the file when it cannot be read.
TbReadResult read_event_file(const std::string& path);

// The event file of one run, open for appending.
class TbEventFile {
 public:
  // Opens the newest event file in `dir`, or creates the folder and a new file
  // (events.out.tfevents.<seconds>.<host>.ctlab) when there is none. What an earlier
  // attempt wrote is kept up to and including step `keep_through`; the records after it,
  // an end record, and a torn last record are cut off, so a resumed run continues the same
  // file without repeating steps. Throws ctlab::Error naming the file.
  TbEventFile(const std::string& dir, int64_t keep_through);
  ~TbEventFile();
  TbEventFile(const TbEventFile&) = delete;
  TbEventFile& operator=(const TbEventFile&) = delete;

  const std::string& path() const { return path_; }
  // Whether the file (after the cut) holds the hparams start record.
  bool has_session_start() const { return has_start_; }

  void scalars(const std::vector<TbScalar>& values);
  // The run's hyperparameters (values that read as numbers or booleans are written as
  // such) and the group it belongs to, as the hparams plugin's start record at step 0.
  void session_start(const std::vector<std::pair<std::string, std::string>>& hparams,
                     const std::string& group, double wall_time);
  void session_end(TbSessionEnd status, int64_t step, double wall_time);

 private:
  void append(const std::vector<std::string>& events);
  std::string path_;
  int fd_ = -1;
  bool has_start_ = false;
};

}  // namespace ctlab
