// Replication of a running domain: libvirt's embedded QEMU driver runs a TCG guest with no OS
// (its block layer is live all the same) whose qcow2 disk the test writes through QEMU's own
// device backend, as the guest would. The agent reads it through checkpoints and pull-mode
// backups; every restore point is compared with a raw model of what the guest wrote.
//
// The embedded driver refuses root (it looks for the libvirt-qemu user of a system install), so
// the test process drops to nobody before anything is created.
#include <gmock/gmock.h>
#include <grp.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "replication/running_domain_source.h"
#include "tests/datapath/replication_fixture.h"

namespace warmsite::apitest {
namespace {

constexpr const char* kEmulator = "/usr/bin/qemu-system-x86_64";

std::string libvirtError() {
  const char* message = virGetLastErrorMessage();
  return message ? message : "unknown libvirt error";
}

class RunningDomainTest : public ReplicationTest {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() == 0) {
      const gid_t nogroup = 65534;
      if (setgroups(0, nullptr) != 0 || setresgid(nogroup, nogroup, nogroup) != 0 ||
          setresuid(65534, 65534, 65534) != 0) {
        skipReason_ = "cannot drop root privileges to nobody";
        return;
      }
      // Changing credentials made the process undumpable: LeakSanitizer, which ptraces the
      // process's own threads at exit, would then fail.
      prctl(PR_SET_DUMPABLE, 1);
      if (access(WARMSITE_PLUGIN_DIR, R_OK | X_OK) != 0) {
        skipReason_ = std::string("nobody cannot read the plugins in ") + WARMSITE_PLUGIN_DIR +
                      " (the embedded QEMU driver does not run as root)";
        return;
      }
    }
    // Everything the test makes lives here, QEMU's monitor socket too (hence a short path).
    std::string pattern = "/tmp/ws-embed-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      skipReason_ = "cannot create the embedded driver's root";
      return;
    }
    root_ = pattern;
    dataRoot() = root_ / "api-test";
    setenv("HOME", root_.c_str(), 1);
    setenv("XDG_RUNTIME_DIR", root_.c_str(), 1);
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    if (!root_.empty()) std::filesystem::remove_all(root_, ignored);
  }

  void SetUp() override {
    if (!skipReason_.empty()) GTEST_SKIP() << skipReason_;
    if (access(kEmulator, X_OK) != 0) GTEST_SKIP() << kEmulator << " is not installed";
    ReplicationTest::SetUp();
    if (IsSkipped() || HasFailure()) return;
    model_ = site_ / "model.raw";
    mustRun({"qemu-img", "convert", "-f", "qcow2", "-O", "raw", source_, model_});

    replication::startLibvirtEventLoop();
    connection_ = virConnectOpen(uri().c_str());
    ASSERT_NE(connection_, nullptr) << libvirtError();
    const std::string xml =
        "<domain type='qemu'><name>tenant-web</name><memory unit='MiB'>64</memory>"
        "<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
        "<emulator>" +
        std::string(kEmulator) +
        "</emulator><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='" +
        source_.string() +
        "'/><target dev='vda' bus='virtio'/></disk><video><model type='none'/></video>"
        "<memballoon model='none'/></devices></domain>";
    domain_ = virDomainCreateXML(connection_, xml.c_str(), 0);
    ASSERT_NE(domain_, nullptr) << libvirtError();
  }

  void TearDown() override {
    if (domain_ != nullptr) {
      virDomainDestroy(domain_);
      virDomainFree(domain_);
    }
    if (connection_ != nullptr) virConnectClose(connection_);
    ReplicationTest::TearDown();
  }

  // Short: the backup's socket lives below (the agent refuses paths a socket cannot have).
  static std::filesystem::path scratchDir() { return root_ / "scratch"; }
  static std::string uri() { return "qemu:///embed?root=" + root_.string() + "/root"; }

  std::unique_ptr<replication::ChangeSource> domainSource(
      const std::vector<std::string>& targets = {"vda"}) {
    return replication::runningDomainSource(
        {.uri = uri(), .domain = "tenant-web", .targets = targets, .scratchDir = scratchDir()});
  }
  replication::AgentOptions domainAgent() { return agent(acme_->token(), {{"disk-0", {}}}); }

  // Writes `length` bytes of `pattern` at `offset` as the guest would (through the virtio disk's
  // own block backend, so QEMU's dirty bitmaps see it), and the same into the model.
  void guestWrite(std::uint64_t offset, std::uint64_t length, int pattern) {
    const std::string command =
        "qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "
        "\"write -q -P " +
        std::to_string(pattern) + " " + std::to_string(offset) + " " + std::to_string(length) +
        "\"";
    char* output = nullptr;
    ASSERT_EQ(virDomainQemuMonitorCommand(domain_, command.c_str(), &output,
                                          VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP),
              0)
        << libvirtError();
    const std::string text = output ? output : "";
    free(output);
    ASSERT_EQ(text, "") << command;
    modelWrite(offset, length, pattern);
  }
  void modelWrite(std::uint64_t offset, std::uint64_t length, int pattern) {
    std::fstream model(model_, std::ios::in | std::ios::out | std::ios::binary);
    model.seekp(static_cast<std::streamoff>(offset));
    const std::string bytes(length, static_cast<char>(pattern));
    model.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(model.good());
  }
  // `count` writes of 4 KiB..256 KiB at seeded random offsets; returns the bytes written.
  std::uint64_t guestWrites(int count, unsigned seed) {
    std::mt19937 generator(seed);
    std::uint64_t written = 0;
    for (int i = 0; i < count; ++i) {
      const std::uint64_t length = 4096u << (generator() % 7);
      const std::uint64_t offset = (generator() % ((kDiskSize - length) / 4096)) * 4096;
      guestWrite(offset, length, static_cast<int>(1 + generator() % 254));
      written += length;
    }
    return written;
  }

  std::vector<std::string> checkpointNames() {
    virDomainCheckpointPtr* checkpoints = nullptr;
    const int count = virDomainListAllCheckpoints(domain_, &checkpoints, 0);
    EXPECT_GE(count, 0) << libvirtError();
    std::vector<std::string> names;
    for (int i = 0; i < count; ++i) {
      names.emplace_back(virDomainCheckpointGetName(checkpoints[i]));
      virDomainCheckpointFree(checkpoints[i]);
    }
    free(checkpoints);
    return names;
  }

  std::filesystem::path keepModel(const std::string& name) {
    const auto copy = site_ / name;
    std::filesystem::copy_file(model_, copy);
    return copy;
  }

  static inline std::string skipReason_;
  static inline std::filesystem::path root_;
  std::filesystem::path model_;
  virConnectPtr connection_ = nullptr;
  virDomainPtr domain_ = nullptr;
};

TEST_F(RunningDomainTest, FullThenIncrementalRunsMatchWhatTheGuestWroteAtEveryRestorePoint) {
  const auto first = replication::replicate(domainAgent(), *domainSource(), log());
  EXPECT_EQ(first.kind, "full");
  EXPECT_EQ(first.reason, "first run (seeding)");
  EXPECT_EQ(first.changedBytes, 40 * kMiB);  // the unallocated tail travels as zero extents
  EXPECT_TRUE(restorePointEquals(first.restorePointId, model_, "raw"));
  EXPECT_EQ(checkpointNames(), std::vector<std::string>{"warmsite-" + first.runId});
  const auto atFirst = keepModel("at-first.raw");

  const auto written = guestWrites(40, 7);
  const auto second = replication::replicate(domainAgent(), *domainSource(), log());
  EXPECT_EQ(second.kind, "incremental") << second.reason;
  EXPECT_GE(second.changedBytes + second.zeroBytes, written / 2);  // writes may overlap
  EXPECT_LT(second.changedBytes + second.zeroBytes, kDiskSize / 3);
  EXPECT_TRUE(restorePointEquals(second.restorePointId, model_, "raw"));
  EXPECT_TRUE(restorePointEquals(first.restorePointId, atFirst, "raw"));
  // The older checkpoint went once the SP confirmed the newer point.
  EXPECT_EQ(checkpointNames(), std::vector<std::string>{"warmsite-" + second.runId});
  EXPECT_TRUE(std::filesystem::is_empty(scratchDir()));  // the backup's files are gone
}

TEST_F(RunningDomainTest, ARestorePointHoldsTheDisksAsTheyWereWhenTheRunBegan) {
  replication::replicate(domainAgent(), *domainSource(), log());
  guestWrites(10, 11);
  const auto atBegin = keepModel("at-begin.raw");
  // The guest keeps writing while the run reads: after the run has planned what to send.
  bool wroteDuringRun = false;
  const auto second =
      replication::replicate(domainAgent(), *domainSource(), [&](const std::string& line) {
        std::cerr << "agent: " << line << "\n";
        if (!wroteDuringRun && line.find("changed bytes") != std::string::npos) {
          wroteDuringRun = true;
          guestWrite(0, 256 * 1024, 0xee);
        }
      });
  ASSERT_TRUE(wroteDuringRun);
  EXPECT_TRUE(restorePointEquals(second.restorePointId, atBegin, "raw"));
  const auto third = replication::replicate(domainAgent(), *domainSource(), log());
  EXPECT_EQ(third.kind, "incremental") << third.reason;
  EXPECT_EQ(third.changedBytes, 256 * 1024u);  // the write the second run did not see
  EXPECT_TRUE(restorePointEquals(third.restorePointId, model_, "raw"));
}

TEST_F(RunningDomainTest, AFailedRunKeepsTheBaseAndAMissingCheckpointForcesAFullRun) {
  const auto first = replication::replicate(domainAgent(), *domainSource(), log());
  guestWrites(5, 3);
  auto refused = domainAgent();
  refused.token = "not-a-token";
  EXPECT_THROW(replication::replicate(refused, *domainSource(), log()), replication::ProtocolError);
  EXPECT_EQ(checkpointNames(), std::vector<std::string>{"warmsite-" + first.runId});

  const auto second = replication::replicate(domainAgent(), *domainSource(), log());
  EXPECT_EQ(second.kind, "incremental") << second.reason;
  EXPECT_TRUE(restorePointEquals(second.restorePointId, model_, "raw"));

  // Someone deleted the checkpoint (or the VM was restored elsewhere): the next run seeds again.
  virDomainCheckpointPtr checkpoint =
      virDomainCheckpointLookupByName(domain_, ("warmsite-" + second.runId).c_str(), 0);
  ASSERT_NE(checkpoint, nullptr) << libvirtError();
  ASSERT_EQ(virDomainCheckpointDelete(checkpoint, 0), 0) << libvirtError();
  virDomainCheckpointFree(checkpoint);
  guestWrites(5, 4);
  const auto third = replication::replicate(domainAgent(), *domainSource(), log());
  EXPECT_EQ(third.kind, "full");
  EXPECT_NE(third.reason.find("checkpoint warmsite-" + second.runId +
                              " of domain tenant-web is "
                              "missing"),
            std::string::npos)
      << third.reason;
  EXPECT_TRUE(restorePointEquals(third.restorePointId, model_, "raw"));
}

TEST_F(RunningDomainTest, ABackupAKilledAgentLeftBehindIsEndedAndItsCheckpointDropped) {
  const auto first = replication::replicate(domainAgent(), *domainSource(), log());
  guestWrites(5, 21);
  // What an agent killed mid-run leaves: its backup job still serving, its checkpoint unconfirmed.
  std::filesystem::create_directories(scratchDir() / "run-dead");
  const std::string backup = "<domainbackup mode='pull'><incremental>warmsite-" + first.runId +
                             "</incremental><server transport='unix' socket='" +
                             (scratchDir() / "run-dead" / "backup.sock").string() +
                             "'/><disks><disk name='vda' backup='yes' type='file'><scratch file='" +
                             (scratchDir() / "run-dead" / "vda.scratch.qcow2").string() +
                             "'/></disk></disks></domainbackup>";
  const std::string checkpoint =
      "<domaincheckpoint><name>warmsite-run-dead</name><disks><disk name='vda' "
      "checkpoint='bitmap'/></disks></domaincheckpoint>";
  ASSERT_EQ(virDomainBackupBegin(domain_, backup.c_str(), checkpoint.c_str(), 0), 0)
      << libvirtError();

  const auto second = replication::replicate(domainAgent(), *domainSource(), log());
  EXPECT_EQ(second.kind, "incremental") << second.reason;
  EXPECT_TRUE(restorePointEquals(second.restorePointId, model_, "raw"));
  EXPECT_EQ(checkpointNames(), std::vector<std::string>{"warmsite-" + second.runId});
}

TEST_F(RunningDomainTest, AnotherToolsBackupJobIsLeftAloneAndTheRunRefused) {
  const std::string backup = "<domainbackup mode='pull'><server transport='unix' socket='" +
                             (root_ / "other.sock").string() +
                             "'/><disks><disk name='vda' backup='yes' type='file'><scratch file='" +
                             (root_ / "other.scratch.qcow2").string() +
                             "'/></disk></disks></domainbackup>";
  ASSERT_EQ(virDomainBackupBegin(domain_, backup.c_str(), nullptr, 0), 0) << libvirtError();
  try {
    replication::replicate(domainAgent(), *domainSource(), log());
    ADD_FAILURE() << "the run went ahead";
  } catch (const replication::ImageError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("another tool's backup job"));
  }
  virDomainJobInfo job{};
  ASSERT_EQ(virDomainGetJobInfo(domain_, &job), 0) << libvirtError();
  EXPECT_NE(job.type, VIR_DOMAIN_JOB_NONE);  // still running
  EXPECT_TRUE(checkpointNames().empty());
  EXPECT_EQ(virDomainAbortJob(domain_), 0) << libvirtError();
}

TEST_F(RunningDomainTest, AResizedDiskIsSentInFull) {
  replication::replicate(domainAgent(), *domainSource(), log());
  ASSERT_EQ(virDomainBlockResize(domain_, "vda", 2 * kDiskSize, VIR_DOMAIN_BLOCK_RESIZE_BYTES), 0)
      << libvirtError();
  const auto result = replication::replicate(domainAgent(), *domainSource(), log());
  EXPECT_EQ(result.kind, "full");
  EXPECT_NE(result.reason.find("resized"), std::string::npos) << result.reason;
  std::filesystem::resize_file(model_, 2 * kDiskSize);
  EXPECT_TRUE(restorePointEquals(result.restorePointId, model_, "raw"));
}

TEST_F(RunningDomainTest, AnUnknownDomainOrDiskOrAStoppedDomainIsRefusedAndChangesNothing) {
  const auto refusal = [&](const replication::RunningDomainOptions& options) -> std::string {
    try {
      replication::runningDomainSource(options);
    } catch (const replication::ImageError& e) {
      return e.what();
    }
    return "accepted";
  };
  replication::RunningDomainOptions options{
      .uri = uri(), .domain = "nowhere", .targets = {"vda"}, .scratchDir = scratchDir()};
  EXPECT_THAT(refusal(options), ::testing::HasSubstr("has no domain nowhere"));
  options.domain = "tenant-web";
  options.targets = {"vdz"};
  EXPECT_THAT(refusal(options), ::testing::HasSubstr("domain tenant-web has no disk vdz"));
  EXPECT_TRUE(checkpointNames().empty());

  ASSERT_EQ(virDomainDestroy(domain_), 0) << libvirtError();
  options.targets = {"vda"};
  // A transient domain is gone once destroyed; a defined one would be "not running".
  EXPECT_THAT(refusal(options), ::testing::HasSubstr("has no domain tenant-web"));
}

}  // namespace
}  // namespace warmsite::apitest
