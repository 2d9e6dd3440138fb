// The replication tests' fixture: an orchestrator with a tenant's replica (see FailoverTest), a
// tenant site directory holding a 64 MiB qcow2 source disk, and helpers that make, change and
// compare images with QEMU's own tools.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "engine/script_runner.h"
#include "replication/agent.h"
#include "replication/disk_image.h"
#include "tests/failover/failover_fixture.h"

namespace warmsite::apitest {

inline constexpr std::uint64_t kMiB = 1 << 20;
inline constexpr std::uint64_t kDiskSize = 64 * kMiB;

inline engine::ScriptResult command(const std::vector<std::string>& arguments) {
  return engine::runCommand(arguments, {}, std::chrono::seconds(120));
}

inline void mustRun(const std::vector<std::string>& arguments) {
  const auto result = command(arguments);
  ASSERT_TRUE(result.succeeded) << arguments[0] << " " << arguments[1] << ": " << result.output;
}

class ReplicationTest : public FailoverTest {
 protected:
  void SetUp() override {
    for (const char* tool : {"qemu-img", "qemu-io", "qemu-nbd"}) {
      if (!command({tool, "--version"}).succeeded) GTEST_SKIP() << tool << " is not installed";
    }
    FailoverTest::SetUp();
    environment();
    replica_ = replica("web");
    site_ = dataDir_ / "tenant-site";
    std::filesystem::create_directories(site_);
    source_ = makeSource("web-disk0.qcow2", 40 * kMiB, 1);
  }

  // A qcow2 whose first `dataBytes` are random and the rest reads as zeroes (unallocated).
  std::filesystem::path makeSource(const std::string& name, std::uint64_t dataBytes, unsigned seed,
                                   std::uint64_t size = kDiskSize) {
    const auto raw = site_ / (name + ".raw");
    {
      std::mt19937_64 generator(seed);
      std::ofstream out(raw, std::ios::binary);
      std::vector<std::uint64_t> block(kMiB / 8);
      for (std::uint64_t at = 0; at < dataBytes; at += kMiB) {
        for (auto& word : block) word = generator();
        out.write(reinterpret_cast<const char*>(block.data()), kMiB);
      }
      out.close();
      std::filesystem::resize_file(raw, size);
    }
    const auto image = site_ / name;
    mustRun({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, image});
    std::filesystem::remove(raw);
    return image;
  }

  // `count` writes of 4 KiB..256 KiB at seeded random offsets; returns the bytes written.
  std::uint64_t scatterWrites(const std::filesystem::path& image, int count, unsigned seed) {
    std::mt19937 generator(seed);
    std::vector<std::string> arguments = {"qemu-io", "-f", "qcow2"};
    std::uint64_t written = 0;
    for (int i = 0; i < count; ++i) {
      const std::uint64_t length = 4096u << (generator() % 7);
      const std::uint64_t offset = (generator() % ((kDiskSize - length) / 4096)) * 4096;
      arguments.push_back("-c");
      arguments.push_back("write -q -P " + std::to_string(1 + generator() % 254) + " " +
                          std::to_string(offset) + " " + std::to_string(length));
      written += length;
    }
    arguments.push_back(image);
    mustRun(arguments);
    return written;
  }

  replication::AgentOptions agent(const std::string& token,
                                  const std::vector<replication::AgentDisk>& disks) {
    replication::AgentOptions options;
    options.connect.host = "127.0.0.1";
    options.connect.port = orchestrator_->replicationPort();
    options.connect.pinnedThumbprint = thumbprint_;
    options.connect.timeout = std::chrono::seconds(20);
    options.token = token;
    options.replicaId = replica_;
    options.disks = disks;
    options.stateDir = site_ / "agent-state";
    return options;
  }
  // The agent's lines in the test output, to read when a check fails.
  static replication::AgentLog log() {
    return [](const std::string& line) { std::cerr << "agent: " << line << "\n"; };
  }
  replication::AgentOptions agent() { return agent(acme_->token(), {{"disk-0", source_}}); }

  std::filesystem::path replicaDisk(const std::string& replicaId = {}) const {
    return orchestrator_->replicaData().diskPath(
        tenantId_, replicaId.empty() ? replica_ : replicaId, "disk-0");
  }

  // Whether the replica's restore point holds exactly what `source` holds.
  // `source` is a qcow2 image, or raw when `sourceFormat` says so.
  bool restorePointEquals(const std::string& pointId, const std::filesystem::path& source,
                          const std::string& sourceFormat = "qcow2") {
    const auto copy = site_ / "restore-point.raw";
    const auto exported = command({"qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", "-l",
                                   "snapshot.name=" + pointId, replicaDisk(), copy});
    EXPECT_TRUE(exported.succeeded) << exported.output;
    const auto compared =
        command({"qemu-img", "compare", "-U", "-f", sourceFormat, "-F", "raw", source, copy});
    std::filesystem::remove(copy);
    if (!compared.succeeded) ADD_FAILURE() << compared.output;
    return compared.succeeded;
  }

  // Whether the replica's data as it is now (its active layer) holds exactly what `image` holds.
  bool currentDataEquals(const std::filesystem::path& image) {
    const auto compared = command({"qemu-img", "compare", "-U", image, replicaDisk()});
    if (!compared.succeeded) ADD_FAILURE() << compared.output;
    return compared.succeeded;
  }

  // A copy of the source as it is now, to compare an older restore point with later.
  std::filesystem::path keepCopy(const std::string& name) {
    const auto copy = site_ / name;
    std::filesystem::copy_file(source_, copy);
    return copy;
  }

  std::vector<std::string> restorePointIds() {
    std::vector<std::string> ids;
    for (const auto& point :
         acme_->get("/api/v1/replicas/" + replica_ + "/restore-points").json()) {
      if (point["origin"] == "replication") ids.push_back(point["id"]);
    }
    return ids;
  }

  std::string replica_;
  std::filesystem::path site_, source_;
};

}  // namespace warmsite::apitest
