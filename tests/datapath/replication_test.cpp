// Replication end to end on real images: qemu-img / qemu-io make and change a tenant's disk, the
// agent ships it over TLS 1.3 to an orchestrator, which writes the replica through qemu-nbd and
// keeps restore points as qcow2 snapshots. Every check compares image contents with qemu-img.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "tests/datapath/replication_fixture.h"

namespace warmsite::apitest {
namespace {

// Forwards one TCP connection at a time to `target`; the first connection is cut after
// `cutAfter` bytes from the client, as a flaky WAN link would.
class CuttingProxy {
 public:
  CuttingProxy(std::uint16_t target, std::uint64_t cutAfter)
      : target_(target), cutAfter_(cutAfter) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(listener_, 8);
    socklen_t length = sizeof address;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~CuttingProxy() {
    stopping_ = true;
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  int connections() const { return connections_; }

 private:
  void serve() {
    while (!stopping_) {
      const int client = accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      const int server = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(target_);
      if (connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        close(client);
        close(server);
        continue;
      }
      const bool cut = connections_++ == 0;
      std::atomic<bool> done{false};
      std::thread back([&] { pump(server, client, 0, done); });
      pump(client, server, cut ? cutAfter_ : 0, done);
      shutdown(client, SHUT_RDWR);
      shutdown(server, SHUT_RDWR);
      back.join();
      close(client);
      close(server);
    }
  }
  // Copies until EOF, or until `limit` bytes went through (0 = no limit).
  static void pump(int from, int to, std::uint64_t limit, std::atomic<bool>& done) {
    char buffer[65536];
    std::uint64_t total = 0;
    while (!done) {
      const auto n = read(from, buffer, sizeof buffer);
      if (n <= 0) break;
      if (write(to, buffer, static_cast<std::size_t>(n)) != n) break;
      total += static_cast<std::uint64_t>(n);
      if (limit != 0 && total >= limit) break;
    }
    done = true;
    shutdown(from, SHUT_RDWR);
    shutdown(to, SHUT_RDWR);
  }

  std::uint16_t target_;
  std::uint64_t cutAfter_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

TEST_F(ReplicationTest, FullThenIncrementalRunsMatchTheSourceAtEveryRestorePoint) {
  const auto first = replication::replicate(agent(), log());
  EXPECT_EQ(first.kind, "full");
  EXPECT_EQ(first.reason, "first run (seeding)");
  EXPECT_EQ(first.changedBytes, 40 * kMiB);  // the unallocated tail travels as zero extents
  EXPECT_EQ(first.zeroBytes, 24 * kMiB);
  EXPECT_LT(first.wireBytes, first.changedBytes * 105 / 100);
  EXPECT_TRUE(restorePointEquals(first.restorePointId, source_));
  const auto atFirst = keepCopy("at-first.qcow2");

  const auto written = scatterWrites(source_, 40, 7);
  const auto second = replication::replicate(agent(), log());
  EXPECT_EQ(second.kind, "incremental") << second.reason;
  EXPECT_GE(second.changedBytes + second.zeroBytes, written / 2);  // writes may overlap
  EXPECT_LT(second.changedBytes + second.zeroBytes, kDiskSize / 3);
  EXPECT_TRUE(restorePointEquals(second.restorePointId, source_));

  scatterWrites(source_, 25, 8);
  mustRun({"qemu-io", "-f", "qcow2", "-c", "write -q -z 0 1048576", source_});  // zeroed range
  const auto third = replication::replicate(agent(), log());
  EXPECT_EQ(third.kind, "incremental");
  EXPECT_TRUE(restorePointEquals(third.restorePointId, source_));
  EXPECT_TRUE(restorePointEquals(first.restorePointId, atFirst));  // older points stay intact

  // Run history and restore points through the API.
  const auto runs = acme_->get("/api/v1/replicas/" + replica_ + "/replication-runs").json();
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0]["id"], third.runId);
  EXPECT_EQ(runs[2]["kind"], "full");
  EXPECT_EQ(runs[2]["result"], "success");
  EXPECT_EQ(runs[1]["disks"][0]["changed_bytes"], second.changedBytes);
  EXPECT_GT(runs[1]["disks"][0]["bytes_sent"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(runs[1]["base_restore_point_id"], first.restorePointId);
  const auto points = acme_->get("/api/v1/replicas/" + replica_ + "/restore-points").json();
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[0]["data_bytes"], 40 * kMiB);
  EXPECT_EQ(points[2]["origin"], "replication");

  // The agent keeps only the newest bitmap once the SP confirmed.
  const auto info = replication::inspectImage(source_);
  ASSERT_EQ(info.bitmaps.size(), 1u);
  EXPECT_EQ(info.bitmaps[0].name, "warmsite-" + third.runId);
}

TEST_F(ReplicationTest, RetentionKeepsTheJobsNewestRestorePoints) {
  auto job = acme_->post("/api/v1/replication-jobs",
                         {{"name", "hourly"}, {"replica_ids", {replica_}}, {"retention", 2}});
  ASSERT_STATUS(job, 201);
  auto options = agent();
  options.jobId = job.json()["id"];
  std::vector<std::string> created;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) scatterWrites(source_, 5, 20 + i);
    created.push_back(replication::replicate(options, log()).restorePointId);
  }
  EXPECT_EQ(restorePointIds(), (std::vector<std::string>{created[2], created[3]}));
  const auto snapshots = replication::inspectImage(replicaDisk()).snapshots;
  ASSERT_EQ(snapshots.size(), 2u);
  EXPECT_EQ(snapshots[0].name, created[2]);
  EXPECT_TRUE(restorePointEquals(created[3], source_));
}

TEST_F(ReplicationTest, ACutConnectionResumesWhereTheDataStopped) {
  replication::replicate(agent(), log());
  scatterWrites(source_, 60, 9);
  CuttingProxy proxy(orchestrator_->replicationPort(), 3 * kMiB);
  auto options = agent();
  options.connect.port = proxy.port();
  options.compressionLevel = 0;  // the cut lands mid-run only if the run is larger than the cut
  std::vector<std::string> log;
  const auto result =
      replication::replicate(options, [&](const std::string& line) { log.push_back(line); });
  EXPECT_EQ(result.reconnects, 1);
  EXPECT_EQ(proxy.connections(), 2);
  EXPECT_TRUE(std::any_of(log.begin(), log.end(), [](const std::string& l) {
    return l.starts_with("resuming at disk 0 offset");
  })) << "the second connection started over";
  EXPECT_TRUE(restorePointEquals(result.restorePointId, source_));
  // Both connections together carried the run about once, not twice.
  EXPECT_LT(result.wireBytes, (result.changedBytes + 3 * kMiB) * 11 / 10);
  EXPECT_EQ(restorePointIds().size(), 2u);
}

TEST_F(ReplicationTest, ACorruptedExtentIsRefusedAndNeverBecomesARestorePoint) {
  const auto good = replication::replicate(agent(), log()).restorePointId;
  auto stream = replication::FrameStream::connect(agent().connect);
  stream->sendJson(replication::FrameType::kHello, {{"version", 1}, {"token", acme_->token()}});
  stream->expect(replication::FrameType::kWelcome);
  stream->sendJson(replication::FrameType::kRunBegin,
                   {{"runId", "run-corrupt"},
                    {"replicaId", replica_},
                    {"kind", "full"},
                    {"disks", {{{"diskId", "disk-0"}, {"sizeBytes", kDiskSize}}}}});
  stream->expect(replication::FrameType::kRunAccepted);
  replication::Extent extent;
  extent.length = 65536;
  extent.data = std::string(65536, 'x');
  auto packed = replication::packExtent(extent, 0);
  packed.body.back() = 'y';
  stream->send(replication::FrameType::kExtent, packed.body);
  try {
    stream->receive();
    FAIL() << "the receiver accepted a corrupted extent";
  } catch (const replication::ProtocolError& e) {
    EXPECT_EQ(e.code(), "extent_corrupt") << e.what();
  }
  EXPECT_EQ(restorePointIds(), std::vector<std::string>{good});
  EXPECT_TRUE(restorePointEquals(good, source_));
  // The next real run reverts whatever the refused run left and builds on the good point.
  scatterWrites(source_, 10, 10);
  const auto next = replication::replicate(agent(), log());
  EXPECT_EQ(next.kind, "incremental");
  EXPECT_TRUE(restorePointEquals(next.restorePointId, source_));
}

TEST_F(ReplicationTest, ABitmapLeftInUseByACrashedWriterForcesAFullRun) {
  replication::replicate(agent(), log());
  // A writer (here qemu-nbd, as a VM's QEMU would) dies holding the image: the bitmap stays in use.
  // A socket path must stay under 108 bytes, whatever the build directory's length.
  const auto writerSocket =
      std::filesystem::temp_directory_path() / ("warmsite-writer-" + std::to_string(getpid()));
  const pid_t writer = fork();
  if (writer == 0) {
    execlp("qemu-nbd", "qemu-nbd", "-f", "qcow2", "-k", writerSocket.c_str(), source_.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  bool marked = false;
  for (int i = 0; i < 500 && !marked; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    try {
      const auto open = replication::inspectImage(source_);
      marked = !open.bitmaps.empty() && open.bitmaps[0].inUse;
    } catch (const replication::ImageError&) {
    }
  }
  kill(writer, SIGKILL);
  waitpid(writer, nullptr, 0);
  std::filesystem::remove(writerSocket);
  const auto info = replication::inspectImage(source_);
  ASSERT_EQ(info.bitmaps.size(), 1u);
  ASSERT_TRUE(info.bitmaps[0].inUse) << "qemu-nbd did not mark the bitmap in use";

  scatterWrites(source_, 10, 11);
  const auto result = replication::replicate(agent(), log());
  EXPECT_EQ(result.kind, "full");
  EXPECT_NE(result.reason.find("left in use"), std::string::npos) << result.reason;
  EXPECT_TRUE(restorePointEquals(result.restorePointId, source_));
  EXPECT_EQ(replication::replicate(agent(), log()).kind, "incremental");  // tracking works again
}

TEST_F(ReplicationTest, AResizedDiskIsSentInFullAndOlderRestorePointsKeepTheirSize) {
  const auto first = replication::replicate(agent(), log());
  const auto atFirst = keepCopy("at-first.qcow2");
  mustRun({"qemu-img", "resize", "-q", source_, std::to_string(96 * kMiB)});
  const auto result = replication::replicate(agent(), log());
  EXPECT_EQ(result.kind, "full");
  EXPECT_NE(result.reason.find("resized"), std::string::npos) << result.reason;
  EXPECT_TRUE(restorePointEquals(result.restorePointId, source_));
  EXPECT_TRUE(restorePointEquals(first.restorePointId, atFirst));
}

TEST_F(ReplicationTest, DataBeyondThePlansStorageQuotaIsRefused) {
  // Another replica's data already fills the plan's storage quota.
  const auto other = replica("db");
  const auto filler = replicaDisk(other);
  std::filesystem::create_directories(filler.parent_path());
  const auto plan = sp_->get("/api/v1/plans").json()[0];
  auto shrunk = sp_->request(
      "PATCH", "/api/v1/plans/" + plan["id"].get<std::string>(),
      nlohmann::json{
          {"storages", {{{"name", "gold"}, {"backend_storage", "datastore1"}, {"quota_gb", 1}}}}}
          .dump());
  ASSERT_STATUS(shrunk, 200);
  mustRun({"fallocate", "-l", "1G", filler});
  try {
    replication::replicate(agent(), log());
    FAIL() << "the run was accepted beyond the quota";
  } catch (const replication::ProtocolError& e) {
    // The refusal, or (when it cut the agent off mid-send) the run's end on resuming it.
    EXPECT_TRUE(e.code() == "quota_exceeded" || e.code() == "run_closed") << e.code();
    EXPECT_NE(std::string(e.what()).find("quota reached"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(restorePointIds().empty());
  const auto runs = acme_->get("/api/v1/replicas/" + replica_ + "/replication-runs").json();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["result"], "failed");
  EXPECT_NE(runs[0]["error"].get<std::string>().find("quota"), std::string::npos);
  // The agent dropped its uncommitted bitmap: the next run still starts from scratch.
  EXPECT_TRUE(replication::inspectImage(source_).bitmaps.empty());
  std::filesystem::remove(filler);
  EXPECT_EQ(replication::replicate(agent(), log()).kind, "full");
}

TEST_F(ReplicationTest, AnotherTenantCannotWriteIntoTheReplica) {
  replication::replicate(agent(), log());
  const auto before = replication::inspectImage(replicaDisk());
  const auto intruderId = tenant(*sp_, "Intruder", "tenant-pass-2");
  (void)intruderId;
  auto intruder = client("Intruder", "tenant-pass-2");
  try {
    replication::replicate(agent(intruder.token(), {{"disk-0", source_}}));
    FAIL() << "tenant Intruder wrote into Acme's replica";
  } catch (const replication::ProtocolError& e) {
    EXPECT_EQ(e.code(), "not_found") << e.what();  // not even its existence shows
  }
  EXPECT_EQ(replication::inspectImage(replicaDisk()).snapshots.size(), before.snapshots.size());
  try {
    replication::replicate(agent("not-a-token", {{"disk-0", source_}}));
    FAIL() << "an unknown token was accepted";
  } catch (const replication::ProtocolError& e) {
    EXPECT_EQ(e.code(), "unauthorized");
  }
}

TEST_F(ReplicationTest, DeletingARestorePointOrTheReplicaRemovesItsData) {
  const auto first = replication::replicate(agent(), log());
  scatterWrites(source_, 10, 12);
  const auto second = replication::replicate(agent(), log());
  auto removed = acme_->request(
      "DELETE", "/api/v1/replicas/" + replica_ + "/restore-points/" + first.restorePointId);
  ASSERT_STATUS(removed, 202);
  EXPECT_EQ(waitTask(*acme_, removed.json()["task"]["id"])["state"], "succeeded");
  EXPECT_EQ(restorePointIds(), std::vector<std::string>{second.restorePointId});
  const auto snapshots = replication::inspectImage(replicaDisk()).snapshots;
  ASSERT_EQ(snapshots.size(), 1u);
  EXPECT_TRUE(restorePointEquals(second.restorePointId, source_));

  auto deleted = acme_->request("DELETE", "/api/v1/replicas/" + replica_);
  ASSERT_STATUS(deleted, 202);
  EXPECT_EQ(waitTask(*acme_, deleted.json()["task"]["id"])["state"], "succeeded");
  EXPECT_FALSE(std::filesystem::exists(replicaDisk().parent_path()));
}

TEST_F(ReplicationTest, FailoverBootsTheChosenRestorePointsDataAndUndoDropsWhatChangedSince) {
  const auto first = replication::replicate(agent(), log());
  const auto atFirst = keepCopy("at-first.qcow2");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // points a second apart
  scatterWrites(source_, 10, 13);
  const auto second = replication::replicate(agent(), log());
  const auto points = acme_->get("/api/v1/replicas/" + replica_ + "/restore-points").json();
  ASSERT_EQ(points.size(), 2u);

  // A failover to the older point: the replica's data is that point's, and changes are tracked.
  const auto session =
      run("/api/v1/replicas/" + replica_ + "/failover", {{"before", points[0]["created_at"]}});
  ASSERT_EQ(session["state"], "completed") << session.dump();
  EXPECT_EQ(session["vms"][0]["restore_point_id"], first.restorePointId);
  EXPECT_EQ(state(replica_), "failover");
  EXPECT_EQ(power(replica_), plugin::PowerState::kOn);
  EXPECT_TRUE(currentDataEquals(atFirst));
  // What the cloud host boots is that data file, not the VM shell's own volume.
  const auto booted = plugin()->compute()->diskData(replica_, {});
  ASSERT_TRUE(booted.ok()) << booted.error().message;
  ASSERT_EQ(booted->size(), 1u);
  EXPECT_EQ((*booted)[0].diskId, "disk-0");
  EXPECT_TRUE(std::filesystem::equivalent((*booted)[0].path, replicaDisk()));
  auto info = replication::inspectImage(replicaDisk());
  ASSERT_NE(info.bitmap("warmsite-failback"), nullptr);
  EXPECT_TRUE(info.bitmap("warmsite-failback")->enabled);

  // While failed over, the replica takes no replication run.
  try {
    replication::replicate(agent(), log());
    ADD_FAILURE() << "a run was accepted into a failed-over replica";
  } catch (const replication::ProtocolError& e) {
    EXPECT_EQ(e.code(), "replica_busy") << e.what();
  }

  // The failed-over VM writes; undo drops that and the failback bitmap.
  ASSERT_TRUE(command({"qemu-io", "-f", "qcow2", "-c", "write -q -P 0x77 0 65536", replicaDisk()})
                  .succeeded);
  const auto undone = run("/api/v1/replicas/" + replica_ + "/undo-failover");
  ASSERT_EQ(undone["state"], "completed") << undone.dump();
  EXPECT_EQ(state(replica_), "ready");
  EXPECT_TRUE(restorePointEquals(first.restorePointId, atFirst));
  EXPECT_TRUE(restorePointEquals(second.restorePointId, source_));
  info = replication::inspectImage(replicaDisk());
  EXPECT_EQ(info.bitmap("warmsite-failback"), nullptr);
  EXPECT_TRUE(currentDataEquals(atFirst));

  // Replication resumes on top of the newest point.
  scatterWrites(source_, 5, 14);
  const auto third = replication::replicate(agent(), log());
  EXPECT_EQ(third.kind, "incremental");
  EXPECT_TRUE(restorePointEquals(third.restorePointId, source_));

  // A point of the cloud host's own boots the VM's own volumes: the data file the failover above
  // attached is let go.
  const auto snapshot = restorePoint(replica_);
  const auto onOwn = run("/api/v1/replicas/" + replica_ + "/failover");
  ASSERT_EQ(onOwn["state"], "completed") << onOwn.dump();
  EXPECT_EQ(onOwn["vms"][0]["restore_point_id"], snapshot);
  const auto own = plugin()->compute()->diskData(replica_, {});
  ASSERT_TRUE(own.ok()) << own.error().message;
  EXPECT_TRUE(own->empty());
}

TEST_F(ReplicationTest, ATestFailoverBootsACopyOfThePointAndLeavesTheReplicaAlone) {
  const auto first = replication::replicate(agent(), log());
  const auto atFirst = keepCopy("at-first.qcow2");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // points a second apart
  scatterWrites(source_, 10, 15);
  replication::replicate(agent(), log());
  const auto points = acme_->get("/api/v1/replicas/" + replica_ + "/restore-points").json();
  ASSERT_EQ(points.size(), 2u);

  const auto plan = failoverPlan({replica_});
  auto started = acme_->post("/api/v1/failover-plans/" + plan + "/test-failover",
                             {{"duration_s", 60}, {"before", points[0]["created_at"]}});
  ASSERT_STATUS(started, 202);
  const std::string sessionId = started.json()["session"]["id"];
  auto session = waitVmsFinished(*acme_, sessionId, 1);
  ASSERT_EQ(session["vms"][0]["state"], "done") << session.dump();
  EXPECT_EQ(session["vms"][0]["restore_point_id"], first.restorePointId);

  // The running test copy boots a copy of the older point; the replica keeps the newest data.
  const auto inventory = *plugin()->compute()->inventory({});
  const auto copy = std::find_if(inventory.begin(), inventory.end(), [](const auto& machine) {
    return machine.kind == plugin::MachineKind::kTestCopy;
  });
  ASSERT_NE(copy, inventory.end());
  EXPECT_EQ(copy->power, plugin::PowerState::kOn);
  const auto booted = plugin()->compute()->diskData(copy->machineId, {});
  ASSERT_TRUE(booted.ok()) << booted.error().message;
  ASSERT_EQ(booted->size(), 1u);
  const std::filesystem::path copied = (*booted)[0].path;
  const auto sessionFiles = dataDir_ / "replicas" / "tests" / sessionId;
  EXPECT_EQ(copied.parent_path().parent_path(), sessionFiles);
  const auto compared = command({"qemu-img", "compare", "-U", atFirst, copied});
  EXPECT_TRUE(compared.succeeded) << compared.output;
  EXPECT_TRUE(currentDataEquals(source_));

  // Cancelled, the copy and its data go; the replica is as it was.
  ASSERT_STATUS(acme_->post("/api/v1/sessions/" + sessionId + "/cancel", nlohmann::json::object()),
                202);
  EXPECT_EQ(waitTask(*acme_, started.json()["task_id"])["state"], "cancelled");
  EXPECT_FALSE(std::filesystem::exists(sessionFiles));
  EXPECT_EQ(state(replica_), "ready");
  EXPECT_TRUE(currentDataEquals(source_));
  EXPECT_TRUE(restorePointEquals(first.restorePointId, atFirst));
}

TEST_F(ReplicationTest, FailbackShipsOnlyTheBlocksChangedOnEitherSideSinceTheFailoverPoint) {
  replication::replicate(agent(), log());
  // The tenant's site changed a little after the last run, then burned.
  scatterWrites(source_, 4, 15);
  const auto session = run("/api/v1/replicas/" + replica_ + "/failover");
  ASSERT_EQ(session["state"], "completed") << session.dump();
  // The failed-over VM writes at the SP.
  ASSERT_TRUE(command({"qemu-io", "-f", "qcow2", "-c", "write -q -P 0x42 1048576 131072", "-c",
                       "write -q -z 33554432 65536", replicaDisk()})
                  .succeeded);

  const auto back = replication::failBack(agent(), log());
  EXPECT_EQ(back.kind, "incremental") << back.reason;
  // Only what changed: 192 KiB at the SP plus the tenant's few writes, not the 40 MiB of data.
  EXPECT_GE(back.changedBytes + back.zeroBytes, 192u * 1024);
  EXPECT_LT(back.changedBytes + back.zeroBytes, 4 * kMiB);
  EXPECT_LT(back.wireBytes, 4 * kMiB);
  EXPECT_TRUE(currentDataEquals(source_));

  // Without a known base the SP sends every block, and the result is the same.
  std::filesystem::remove_all(site_ / "agent-state");
  mustRun({"qemu-io", "-f", "qcow2", "-c", "write -q -P 0x99 0 65536", source_});
  const auto full = replication::failBack(agent(), log());
  EXPECT_EQ(full.kind, "full");
  EXPECT_GE(full.changedBytes, 39 * kMiB);  // the 40 MiB of data, less what the SP zeroed
  EXPECT_TRUE(currentDataEquals(source_));
}

TEST_F(ReplicationTest, MalformedRunRequestsAreRefusedAndChangeNothing) {
  const std::vector<nlohmann::json> requests = {
      {{"runId", "r1"}, {"kind", "full"}},                                           // no replica
      {{"runId", "r2"}, {"replicaId", replica_}, {"kind", "partial"}},               // bad kind
      {{"runId", "r3"}, {"replicaId", replica_}, {"kind", "full"}, {"disks", {5}}},  // bad disk
      {{"runId", "r4"}, {"replicaId", replica_}, {"kind", "full"}, {"disks", "x"}},
      {{"runId", "r5"},
       {"replicaId", replica_},
       {"kind", "full"},
       {"disks", {{{"diskId", "disk-9"}, {"sizeBytes", kDiskSize}}}}},  // no such disk
      {{"runId", "r6"},
       {"replicaId", replica_},
       {"kind", "full"},
       {"disks", {{{"diskId", "disk-0"}, {"sizeBytes", 11ull << 30}}}}},  // larger than 10 GB
      {{"runId", std::string(65, 'x')}, {"replicaId", replica_}, {"kind", "full"}},
  };
  for (const auto& request : requests) {
    auto stream = replication::FrameStream::connect(agent().connect);
    stream->sendJson(replication::FrameType::kHello, {{"version", 1}, {"token", acme_->token()}});
    stream->expect(replication::FrameType::kWelcome);
    stream->sendJson(replication::FrameType::kRunBegin, request);
    try {
      stream->receive();
      ADD_FAILURE() << "accepted " << request.dump();
    } catch (const replication::ProtocolError& e) {
      EXPECT_TRUE(e.code() == "bad_request" || e.code() == "disk_too_large") << e.code();
      EXPECT_FALSE(std::string(e.what()).empty());
    }
  }
  EXPECT_TRUE(acme_->get("/api/v1/replicas/" + replica_ + "/replication-runs").json().empty());
  EXPECT_FALSE(std::filesystem::exists(replicaDisk()));
}

TEST_F(ReplicationTest, ATenantsRunsKeepToItsBandwidthLimit) {
  // 8 MB/s for the tenant: 10 MiB of random data cannot arrive in less than about a second (the
  // limit allows a quarter second's burst). Only the lower bound is checked: it holds on any
  // machine.
  restart([](daemon::OrchestratorOptions& o) {
    o.replication.tenantBandwidthBytesPerSecond = 8'000'000;
  });
  acme_ = std::make_unique<client::ApiClient>(client("Acme", "tenant-pass-1"));
  source_ = makeSource("small.qcow2", 10 * kMiB, 16);
  const auto started = std::chrono::steady_clock::now();
  const auto result = replication::replicate(agent(), log());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(result.changedBytes, 10 * kMiB);
  EXPECT_GE(seconds, (10.0 * kMiB - 2e6) / 8e6) << "the limit was not applied";
  EXPECT_TRUE(restorePointEquals(result.restorePointId, source_));
}

TEST_F(ReplicationTest, ThePortSpeaksOnlyTls13WithThePinnedCertificate) {
  auto options = agent().connect;
  options.pinnedThumbprint = std::string(95, 'A');
  for (std::size_t i = 2; i < options.pinnedThumbprint.size(); i += 3)
    options.pinnedThumbprint[i] = ':';
  EXPECT_THROW(replication::FrameStream::connect(options), client::PinMismatch);
  const auto tls12 = command({"openssl", "s_client", "-connect",
                              "127.0.0.1:" + std::to_string(orchestrator_->replicationPort()),
                              "-tls1_2", "-brief"});
  EXPECT_FALSE(tls12.succeeded) << tls12.output;
}

}  // namespace
}  // namespace warmsite::apitest
