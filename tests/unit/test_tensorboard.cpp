// TensorBoard event files: CRC-32C against published check values, records read back as
// written, the hparams start and end records, and the resume cut (records after the resume
// step, an end record and a torn tail are removed; the file name is kept).
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <fstream>

#include "session/tensorboard_sink.h"
#include "store/tensorboard.h"
#include "test_util.h"
#include "util/error.h"

using namespace ctlab;
using test::TempDir;

namespace {

std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> out;
  for (boost::filesystem::directory_iterator it(dir), end; it != end; ++it)
    out.push_back(it->path().string());
  return out;
}

// (tag, step) of every scalar in the file, in order.
std::vector<std::pair<std::string, int64_t>> scalar_keys(const std::string& path) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& r : read_event_file(path).records)
    for (const auto& [tag, v] : r.values) out.emplace_back(tag, r.step);
  return out;
}

}  // namespace

TEST(TensorBoard, Crc32cMatchesPublishedCheckValues) {
  // RFC 3720 (iSCSI), B.4: 32 bytes of zeros, of 0xff, and the ascending bytes 0..31.
  const std::string zeros(32, '\0'), ones(32, '\xff');
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending += static_cast<char>(i);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8a9136aau);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62a8ab43u);
  EXPECT_EQ(crc32c(ascending.data(), ascending.size()), 0x46dd794eu);
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);  // the CRC catalogue's check value
  // The mask: rotate right by 15 bits, add 0xa282ead8.
  const uint32_t c = crc32c("123456789", 9);
  EXPECT_EQ(masked_crc32c("123456789", 9), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(TensorBoard, RecordsReadBackAsWritten) {
  TempDir dir;
  const std::string folder = dir.path() + "/tb";
  std::string path;
  {
    TbEventFile f(folder, 0);
    EXPECT_FALSE(f.has_session_start());
    f.session_start({{"variant", "txl"}, {"cmem_rate", "2"}, {"seed", "3"}, {"same_length", "true"}},
                    hparams_group({{"variant", "txl"}, {"cmem_rate", "2"}, {"seed", "3"}}), 100.0);
    f.scalars(
        {{"train/loss", 10, 2.5, 101.0}, {"train/lr", 10, 1e-3, 101.0}, {"valid/loss", 20, 2.25, 102.0}});
    f.session_end(TbSessionEnd::Success, 20, 103.0);
    path = f.path();
  }
  ASSERT_EQ(event_files(folder).size(), 1u);
  EXPECT_NE(path.find("/events.out.tfevents."), std::string::npos) << path;
  const auto read = read_event_file(path);
  ASSERT_EQ(read.records.size(), 6u);
  EXPECT_EQ(read.records[0].file_version, "brain.Event:2");
  EXPECT_TRUE(read.records[1].session_start);
  EXPECT_EQ(read.records[1].group, "variant=txl cmem_rate=2");
  std::map<std::string, std::string> hp(read.records[1].hparams.begin(), read.records[1].hparams.end());
  EXPECT_EQ(hp["variant"], "txl");
  EXPECT_EQ(hp["cmem_rate"], "2");  // written as a number
  EXPECT_EQ(hp["seed"], "3");
  EXPECT_EQ(hp["same_length"], "true");  // written as a boolean
  EXPECT_EQ(read.records[2].step, 10);
  EXPECT_EQ(read.records[2].values.at(0).first, "train/loss");
  EXPECT_EQ(read.records[2].values.at(0).second, 2.5f);
  EXPECT_DOUBLE_EQ(read.records[2].wall_time, 101.0);
  EXPECT_EQ(read.records[3].values.at(0).second, static_cast<float>(1e-3));
  EXPECT_TRUE(read.records[5].session_end);
  EXPECT_EQ(read.intact_bytes, static_cast<int64_t>(boost::filesystem::file_size(path)));
}

TEST(TensorBoard, AResumedRunCutsWhatCameAfterItsCheckpointAndATornTail) {
  TempDir dir;
  const std::string folder = dir.path() + "/tb";
  std::string path;
  {
    TbEventFile f(folder, 0);
    f.session_start({{"lr", "0.001"}}, "lr=0.001", 1.0);
    for (int64_t s : {5, 10, 15, 20}) f.scalars({{"train/loss", s, 1.0 * s, 2.0}});
    f.session_end(TbSessionEnd::Failure, 20, 3.0);
    path = f.path();
  }
  {
    std::ofstream torn(path, std::ios::app | std::ios::binary);
    torn << std::string("\x20\0\0\0\0\0\0\0\x01\x02", 10);  // a record cut short by a kill
  }
  EXPECT_LT(read_event_file(path).intact_bytes, static_cast<int64_t>(boost::filesystem::file_size(path)));
  {
    TbEventFile f(folder, 10);  // resumed from the checkpoint at step 10
    EXPECT_EQ(f.path(), path);  // the same file continues
    EXPECT_TRUE(f.has_session_start());
    f.scalars({{"train/loss", 15, 15.0, 4.0}, {"train/loss", 20, 20.0, 4.0}});
  }
  ASSERT_EQ(event_files(folder).size(), 1u);
  const auto read = read_event_file(path);
  EXPECT_EQ(read.intact_bytes, static_cast<int64_t>(boost::filesystem::file_size(path)));
  const std::vector<std::pair<std::string, int64_t>> want = {
      {"train/loss", 5}, {"train/loss", 10}, {"train/loss", 15}, {"train/loss", 20}};
  EXPECT_EQ(scalar_keys(path), want);
  int starts = 0, ends = 0;
  for (const auto& r : read.records) {
    starts += r.session_start;
    ends += r.session_end;
  }
  EXPECT_EQ(starts, 1);
  EXPECT_EQ(ends, 0);  // the failed attempt's end record went with the steps after 10
}

TEST(TensorBoard, AFileWithNoIntactRecordStartsOver) {
  TempDir dir;
  const std::string folder = dir.path() + "/tb";
  boost::filesystem::create_directories(folder);
  const std::string path = folder + "/events.out.tfevents.1.host.ctlab";
  std::ofstream(path, std::ios::binary) << "not an event file";
  TbEventFile f(folder, 100);
  EXPECT_EQ(f.path(), path);
  EXPECT_FALSE(f.has_session_start());
  const auto read = read_event_file(path);
  ASSERT_EQ(read.records.size(), 1u);
  EXPECT_EQ(read.records[0].file_version, "brain.Event:2");
}

TEST(TensorBoard, AnUnwritableFolderIsNamedInTheError) {
  TempDir dir;
  const std::string file = dir.file("plain", "x");
  try {
    TbEventFile f(file + "/tb", 0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file + "/tb"), std::string::npos) << e.what();
  }
}
