// Where a replica's replicated disk files are found: a failover asks once per plan which replicas
// have any, so a VM without files skips detaching them.
#include "replication/replica_data.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace warmsite::replication {
namespace {

class ReplicaDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("warmsite-replica-data-" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void file(const std::filesystem::path& relative) {
    std::filesystem::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << "x";
  }

  std::filesystem::path root_;
};

TEST_F(ReplicaDataTest, AReplicaHasDataWhenItsDirectoryHoldsADiskFileOrCannotBeRead) {
  const ReplicaDataStore data(root_);
  // A tenant that replicated nothing has no directory at all.
  EXPECT_TRUE(data.replicasWithData("tnt-a", {"rep-1", "rep-2"}).empty());

  file("tnt-a/rep-1/disk-2.qcow2");
  file("tnt-a/rep-1/disk-1.qcow2");
  file("tnt-a/rep-2/failback-base");  // bookkeeping only, no disk
  file("tnt-a/rep-4");                // where a directory should be: unreadable as one
  file("tnt-b/rep-3/disk-1.qcow2");   // another tenant's

  EXPECT_EQ(data.replicasWithData("tnt-a", {"rep-1", "rep-2", "rep-3", "rep-4", "rep-5"}),
            (std::set<std::string>{"rep-1", "rep-4"}));
  EXPECT_EQ(data.diskFiles("tnt-a", "rep-1"),
            (std::vector<std::filesystem::path>{root_ / "tnt-a/rep-1/disk-1.qcow2",
                                                root_ / "tnt-a/rep-1/disk-2.qcow2"}));
  EXPECT_TRUE(data.diskFiles("tnt-a", "rep-2").empty());
  EXPECT_TRUE(data.diskFiles("tnt-a", "rep-5").empty());
}

}  // namespace
}  // namespace warmsite::replication
