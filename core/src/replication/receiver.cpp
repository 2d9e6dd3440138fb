#include "replication/receiver.h"

#include <libnbd.h>
#include <sys/stat.h>

#include <algorithm>
#include <deque>
#include <optional>

#include "api/api_context.h"
#include "domain/ids.h"
#include "replication/disk_image.h"
#include "replication/pipeline_stage.h"

namespace warmsite::replication {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kGiB = 1ull << 30;
constexpr std::size_t kWritesInFlight = 16;

std::uint64_t allocatedOnDisk(const std::filesystem::path& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) return 0;
  return static_cast<std::uint64_t>(info.st_blocks) * 512;
}

// What a run's disks received, together.
struct RunTotals {
  std::uint64_t changedBytes = 0, zeroBytes = 0, extents = 0;
};

RunTotals totalsOf(const domain::ReplicationRun& run) {
  RunTotals totals;
  for (const auto& disk : run.disks) {
    totals.changedBytes += disk.changedBytes;
    totals.zeroBytes += disk.zeroBytes;
    totals.extents += disk.extents;
  }
  return totals;
}

nlohmann::json committedReply(const domain::ReplicationRun& run,
                              const std::vector<std::string>& expired) {
  const auto totals = totalsOf(run);
  return {{"runId", run.id},
          {"restorePointId", run.restorePointId},
          {"changedBytes", totals.changedBytes},
          {"zeroBytes", totals.zeroBytes},
          {"extents", totals.extents},
          {"expiredRestorePoints", expired}};
}

}  // namespace

struct ReplicationReceiver::ActiveRun {
  struct Disk {
    std::string diskId;
    std::string storage;
    std::uint64_t size = 0;
    std::filesystem::path path;
    std::unique_ptr<NbdExport> image;  // open while the run is
    Clock::time_point started;
  };
  std::timed_mutex mutex;  // held by the connection serving the run
  domain::ReplicationRun record;
  std::uint32_t retention = 7;
  std::vector<Disk> disks;
  std::map<std::string, std::uint64_t> quotaLeft;  // per plan storage, bytes
  std::string planName;
  // Everything before (disk, offset) is written; extents arrive in this order and are written
  // asynchronously, up to kWritesInFlight at once, up to (issuedDisk, issuedOffset).
  std::uint16_t disk = 0;
  std::uint64_t offset = 0;
  std::uint16_t issuedDisk = 0;
  std::uint64_t issuedOffset = 0;
  struct Write {
    nbd_handle* handle = nullptr;
    std::int64_t cookie = 0;
    std::unique_ptr<std::string> data;  // owned until the write completes
    std::uint16_t disk = 0;
    std::uint64_t offset = 0, length = 0, wireBytes = 0;
    bool zero = false;
  };
  std::deque<Write> writes;

  ~ActiveRun() { closeImages(); }
  // Closing a handle ends its requests, so the buffers of writes in flight may go after it.
  void closeImages() {
    for (auto& d : disks) d.image.reset();
    writes.clear();
  }
  // The connection serving it, and since when none has; guarded by the receiver's mutex.
  FrameStream* connection = nullptr;
  Clock::time_point detachedAt = Clock::now();
};

ReplicationReceiver::ReplicationReceiver(store::Store& store, security::Authenticator& auth,
                                         const ReplicaDataStore& data,
                                         const security::TlsIdentity& identity,
                                         ReceiverOptions options)
    : store_(store),
      auth_(auth),
      data_(data),
      options_(options),
      listener_(options.listener, identity, [this](FrameStream& stream) { serve(stream); }) {}

ReplicationReceiver::~ReplicationReceiver() {
  stop();
}

void ReplicationReceiver::start() {
  // No run survives a restart: its qemu-nbd children are gone. The next run reverts its disks.
  store_.write([](store::Transaction& tx) {
    tx.failRunningReplicationRuns("the service restarted during the run", security::nowUnix());
  });
  listener_.start();
}

void ReplicationReceiver::stop() {
  listener_.stop();
  std::map<std::string, std::shared_ptr<ActiveRun>> open;
  {
    std::lock_guard lock(mutex_);
    open.swap(runs_);
  }
  for (auto& [id, run] : open) {
    std::lock_guard runLock(run->mutex);
    failRun(*run, "the service stopped during the run");
  }
}

BandwidthThrottle& ReplicationReceiver::throttleOf(const std::string& tenantId) {
  std::lock_guard lock(mutex_);
  auto& throttle = throttles_[tenantId];
  if (!throttle)
    throttle = std::make_unique<BandwidthThrottle>(options_.tenantBandwidthBytesPerSecond);
  return *throttle;
}

void ReplicationReceiver::serve(FrameStream& stream) {
  std::shared_ptr<ActiveRun> current;
  try {
    const auto hello = stream.expect(FrameType::kHello).json();
    if (hello.value("version", 0) != kProtocolVersion) {
      throw ProtocolError("unsupported_version", "this SP speaks replication protocol version " +
                                                     std::to_string(kProtocolVersion));
    }
    const auto session = auth_.authenticate(hello.value("token", ""));
    if (!session) throw ProtocolError("unauthorized", "the token is unknown or expired");
    if (session->account.role != domain::Role::kTenant) {
      throw ProtocolError("forbidden", "replication is for tenant accounts");
    }
    const std::string tenantId = session->account.tenantId;
    const auto tenant = store_.read([&](store::Transaction& tx) {
      auto found = tx.findTenant(tenantId);
      if (!found) throw ProtocolError("unauthorized", "the tenant no longer exists");
      api::requireTenantMayWork(tx, *found, true);
      return *found;
    });
    stream.sendJson(
        FrameType::kWelcome,
        {{"version", kProtocolVersion}, {"tenantId", tenantId}, {"tenant", tenant.name}});

    while (true) {
      const auto next = stream.receive();
      if (next.type == FrameType::kFailbackBegin) {
        serveFailback(stream, tenantId, next.json());
        continue;
      }
      if (next.type != FrameType::kRunBegin) {
        throw ProtocolError("unexpected_frame",
                            std::string("expected RUN_BEGIN or FAILBACK_BEGIN, received ") +
                                frameTypeName(next.type));
      }
      const auto request = next.json();
      current = beginRun(tenantId, request);
      if (current->record.state == domain::ReplicationRunState::kCommitted) {
        stream.sendJson(FrameType::kCommitted, committedReply(current->record, {}));
        current.reset();
        continue;
      }
      // A resume may arrive before the receiver noticed that the old connection died: the agent
      // knows best, so the old connection is cut and the run moves to this one.
      {
        std::lock_guard lock(mutex_);
        if (current->connection != nullptr) current->connection->abort();
      }
      std::unique_lock runLock(current->mutex, std::defer_lock);
      if (!runLock.try_lock_for(std::chrono::seconds(30))) {
        throw ProtocolError("run_busy", "run " + current->record.id + " is served elsewhere");
      }
      {
        std::lock_guard lock(mutex_);
        current->connection = &stream;
      }
      current->issuedDisk = current->disk;  // a resume starts where the written data ends
      current->issuedOffset = current->offset;
      stream.sendJson(FrameType::kRunAccepted, {{"runId", current->record.id},
                                                {"resumeDisk", current->disk},
                                                {"resumeOffset", current->offset}});
      const auto totals = receiveExtents(stream, *current);
      const auto committed = commitRun(*current, totals);
      {
        std::lock_guard lock(mutex_);
        runs_.erase(current->record.id);
        current->connection = nullptr;
      }
      runLock.unlock();
      current.reset();
      stream.sendJson(FrameType::kCommitted, committed);
    }
  } catch (const ProtocolError& e) {
    try {
      stream.sendJson(FrameType::kError, {{"code", e.code()}, {"message", e.what()}});
    } catch (const TransportError&) {
    }
  } catch (const nlohmann::json::exception& e) {
    try {  // a field of the wrong type in a control frame
      stream.sendJson(FrameType::kError, {{"code", "bad_request"}, {"message", e.what()}});
    } catch (const TransportError&) {
    }
  } catch (const api::ApiError& e) {
    try {
      stream.sendJson(FrameType::kError, {{"code", e.code()}, {"message", e.what()}});
    } catch (const TransportError&) {
    }
  } catch (const TransportError&) {
    // The agent went away; an open run waits for it to resume.
  } catch (const std::exception& e) {
    if (current) {
      std::lock_guard runLock(current->mutex);
      failRun(*current, e.what());
    }
    try {
      stream.sendJson(FrameType::kError, {{"code", "internal"}, {"message", e.what()}});
    } catch (const TransportError&) {
    }
  }
  if (current) {
    std::lock_guard lock(mutex_);
    if (current->connection == &stream) {
      current->connection = nullptr;
      current->detachedAt = Clock::now();
    }
  }
}

std::shared_ptr<ReplicationReceiver::ActiveRun> ReplicationReceiver::beginRun(
    const std::string& tenantId, const nlohmann::json& request) {
  reapAbandonedRuns();
  const std::string runId = request.value("runId", "");
  const std::string replicaId = request.value("replicaId", "");
  const std::string kind = request.value("kind", "");
  if (runId.empty() || runId.size() > 64 || replicaId.empty()) {
    throw ProtocolError("bad_request", "RUN_BEGIN needs runId (1..64 chars) and replicaId");
  }
  if (kind != "full" && kind != "incremental") {
    throw ProtocolError("bad_request", "RUN_BEGIN kind must be \"full\" or \"incremental\"");
  }
  // A resume, or a new run: one open run per replica, and a newer one replaces one whose agent
  // went away.
  std::vector<std::shared_ptr<ActiveRun>> replaced;
  {
    std::lock_guard lock(mutex_);
    if (auto open = runs_.find(runId); open != runs_.end()) {
      if (open->second->record.tenantId != tenantId) {
        throw ProtocolError("bad_request", "run id " + runId + " is taken");
      }
      return open->second;
    }
    for (auto& [id, other] : runs_) {
      if (other->record.replicaId != replicaId || other->record.tenantId != tenantId) continue;
      if (other->connection != nullptr) {
        throw ProtocolError("replica_busy",
                            "run " + id + " of replica " + replicaId + " is still receiving data");
      }
      replaced.push_back(other);
    }
  }
  for (auto& other : replaced) {
    std::unique_lock otherLock(other->mutex, std::try_to_lock);
    if (!otherLock.owns_lock()) {
      throw ProtocolError("replica_busy", "run " + other->record.id + " of replica " + replicaId +
                                              " is still receiving data");
    }
    failRun(*other, "replaced by run " + runId + " before it was committed");
  }

  auto run = std::make_shared<ActiveRun>();
  std::string latestPoint;
  store_.write([&](store::Transaction& tx) {
    auto scope = tx.tenant(tenantId);
    if (auto previous = scope->findReplicationRun(runId)) {
      if (previous->state == domain::ReplicationRunState::kCommitted) {
        run->record = *previous;  // the agent missed COMMITTED: it gets it again
        return;
      }
      throw ProtocolError("run_closed",
                          "run " + runId + " already ended as " +
                              std::string(domain::toString(previous->state)) +
                              (previous->error.empty() ? "" : ": " + previous->error));
    }
    const auto replica = scope->findReplica(replicaId);
    if (!replica) throw ProtocolError("not_found", "replica " + replicaId + " not found");
    if (replica->deleting || replica->state != domain::ReplicaState::kReady) {
      throw ProtocolError("replica_busy", "replica " + replica->name + " is " +
                                              std::string(domain::toString(replica->state)) +
                                              (replica->deleting ? " and being deleted" : "") +
                                              "; replication resumes once it is ready");
    }
    const auto subscription = scope->findSubscription(replica->subscriptionId);
    const auto plan = subscription ? tx.findPlan(subscription->planId) : std::nullopt;
    if (!plan)
      throw ProtocolError("not_found", "the plan of replica " + replica->name + " is gone");
    run->planName = plan->name;

    const auto& disks = request.value("disks", nlohmann::json::array());
    if (!disks.is_array() || disks.empty() || disks.size() > replica->disks.size()) {
      throw ProtocolError("bad_request", "RUN_BEGIN disks must list 1.." +
                                             std::to_string(replica->disks.size()) +
                                             " disks of replica " + replica->name);
    }
    for (const auto& entry : disks) {
      const std::string diskId = entry.value("diskId", "");
      const std::uint64_t size = entry.value("sizeBytes", std::uint64_t{0});
      auto declared =
          std::find_if(replica->disks.begin(), replica->disks.end(),
                       [&](const domain::ReplicaDisk& d) { return d.diskId == diskId; });
      if (declared == replica->disks.end()) {
        throw ProtocolError("bad_request", "replica " + replica->name + " has no disk " + diskId);
      }
      if (size == 0 || size > declared->sizeGb * kGiB) {
        throw ProtocolError("disk_too_large", "disk " + diskId + " of " + std::to_string(size) +
                                                  " bytes does not fit replica disk of " +
                                                  std::to_string(declared->sizeGb) + " GiB");
      }
      ActiveRun::Disk disk;
      disk.diskId = diskId;
      disk.storage = declared->storage;
      disk.size = size;
      disk.path = data_.diskPath(tenantId, replicaId, diskId);
      run->disks.push_back(std::move(disk));
    }

    // Incremental runs build on the newest replicated restore point, and nothing else.
    std::string latest;
    for (const auto& point : scope->restorePoints(replicaId))
      if (point.origin == "replication") latest = point.id;
    const std::string base = request.value("baseRestorePointId", "");
    if (kind == "incremental") {
      if (latest.empty() || base != latest) {
        throw ProtocolError("base_mismatch",
                            "the replica's newest restore point is " +
                                (latest.empty() ? std::string("none") : latest) + ", not " +
                                (base.empty() ? std::string("none") : base) + "; send a full run");
      }
      for (const auto& disk : run->disks) {
        if (!std::filesystem::exists(disk.path)) {
          throw ProtocolError("base_mismatch", "the replica has no data for disk " + disk.diskId +
                                                   "; send a full run");
        }
      }
    }

    // Quota: what the tenant's replica data already holds on each plan storage.
    std::map<std::string, std::uint64_t> used;
    for (const auto& other : scope->replicas()) {
      for (const auto& d : other.disks)
        used[d.storage] += allocatedOnDisk(data_.diskPath(tenantId, other.id, d.diskId));
    }
    for (const auto& storage : plan->storages) {
      const std::uint64_t quota = storage.quotaGb * kGiB;
      run->quotaLeft[storage.name] = quota > used[storage.name] ? quota - used[storage.name] : 0;
    }

    run->retention = options_.defaultRetention;
    const std::string jobId = request.value("jobId", "");
    if (!jobId.empty()) {
      const auto job = scope->findReplicationJob(jobId);
      if (!job) throw ProtocolError("not_found", "replication job " + jobId + " not found");
      if (std::find(job->replicaIds.begin(), job->replicaIds.end(), replicaId) ==
          job->replicaIds.end()) {
        throw ProtocolError("bad_request",
                            "replica " + replica->name + " is not in job " + job->name);
      }
      run->retention = job->retention;
    }

    auto& record = run->record;
    record.id = runId;
    record.tenantId = tenantId;
    record.replicaId = replicaId;
    record.jobId = jobId;
    record.kind = kind;
    record.reason = request.value("reason", "");
    record.baseRestorePointId = kind == "incremental" ? base : "";
    record.startedUnix = security::nowUnix();
    for (const auto& disk : run->disks) record.disks.push_back({disk.diskId, disk.size});
    scope->insertReplicationRun(record);
    latestPoint = latest;
  });
  if (run->record.state == domain::ReplicationRunState::kCommitted) return run;

  // The disks go back to the newest restore point (an earlier run may have left partial data on
  // them), or come into being for a first run; then each is opened for writing.
  try {
    for (auto& disk : run->disks) {
      std::filesystem::create_directories(disk.path.parent_path());
      if (!std::filesystem::exists(disk.path)) {
        createQcow2(disk.path, disk.size);
      } else {
        auto info = inspectImage(disk.path);
        // Tenant data supersedes what a failover changed at the SP (and qcow2 reverts nothing
        // while a bitmap records).
        if (info.bitmap(std::string(ReplicaDataStore::kFailbackBitmap))) {
          removeBitmap(disk.path, std::string(ReplicaDataStore::kFailbackBitmap));
        }
        if (!latestPoint.empty() && info.hasSnapshot(latestPoint)) {
          revertToSnapshot(disk.path, latestPoint);
          info = inspectImage(disk.path);  // the restore point's size
        }
        if (info.virtualSize != disk.size) {
          if (run->record.kind != "full") {
            throw ProtocolError("base_mismatch",
                                "disk " + disk.diskId + " changed size; send a full run");
          }
          resizeImage(disk.path, disk.size);  // older restore points keep their size
        }
      }
      NbdExport::Options writable;
      writable.writable = true;
      disk.image = std::make_unique<NbdExport>(disk.path, writable);
      disk.started = Clock::now();
    }
  } catch (const std::exception& e) {
    failRun(*run, e.what());
    throw;
  }
  std::lock_guard lock(mutex_);
  runs_[runId] = run;
  return run;
}

nlohmann::json ReplicationReceiver::receiveExtents(FrameStream& stream, ActiveRun& run) {
  auto& throttle = throttleOf(run.record.tenantId);
  // Writes stay in flight while the next extents arrive; whatever ends this loop, the ones still
  // in flight finish first (their buffers live here) and count towards the resume point.
  struct Drain {
    ActiveRun& run;
    ~Drain() {
      try {
        retireWrites(run, true);
      } catch (const ImageError&) {
      }
    }
  } drain{run};
  // Verifying and writing on their own thread overlaps decrypting the next extents. Only this
  // thread touches the TLS stream; a refused extent wakes its blocked receive.
  PipelineStage writer({.process = [&](std::string&& body) { writeExtent(run, std::move(body)); },
                        .finished = [&] { retireWrites(run, true); },
                        .failed = [&] { stream.stopReading(); }});
  while (true) {
    Frame frame;
    try {
      frame = stream.receive();
    } catch (const TransportError&) {
      writer.rethrowFailure();  // the writer's refusal is the reason, if it stopped the reading
      throw;
    }
    if (frame.type == FrameType::kRunCommit) {
      writer.finish();
      return frame.json();
    }
    if (frame.type != FrameType::kExtent) {
      throw ProtocolError(
          "unexpected_frame",
          std::string("expected EXTENT or RUN_COMMIT, received ") + frameTypeName(frame.type));
    }
    throttle.take(frame.body.size() + kFrameHeaderSize);
    writer.push(std::move(frame.body));
  }
}

void ReplicationReceiver::writeExtent(ActiveRun& run, std::string body) {
  const std::uint64_t wireBytes = body.size() + kFrameHeaderSize;
  Extent extent = unpackExtent(std::move(body));
  if (extent.disk >= run.disks.size()) {
    throw ProtocolError("bad_frame", "extent for disk " + std::to_string(extent.disk) +
                                         " of a run with " + std::to_string(run.disks.size()));
  }
  auto& disk = run.disks[extent.disk];
  if (extent.disk < run.issuedDisk ||
      (extent.disk == run.issuedDisk && extent.offset < run.issuedOffset)) {
    throw ProtocolError("bad_frame", "extents must come in order: disk " +
                                         std::to_string(extent.disk) + " offset " +
                                         std::to_string(extent.offset) + " is before disk " +
                                         std::to_string(run.issuedDisk) + " offset " +
                                         std::to_string(run.issuedOffset));
  }
  if (extent.offset + extent.length > disk.size) {
    throw ProtocolError("bad_frame", "extent at " + std::to_string(extent.offset) +
                                         " runs past the end of disk " + disk.diskId);
  }
  ActiveRun::Write write;
  write.disk = extent.disk;
  write.offset = extent.offset;
  write.length = extent.length;
  write.zero = extent.kind == ExtentKind::kZero;
  write.wireBytes = wireBytes;
  nbd_handle* handle = disk.image->handle();
  if (!write.zero) {
    auto& left = run.quotaLeft[disk.storage];
    if (left < extent.length) {
      const std::string message = "storage " + disk.storage + " of plan " + run.planName +
                                  " has no room for more replica data (quota reached)";
      retireWrites(run, true);
      failRun(run, message);
      throw ProtocolError("quota_exceeded", message);
    }
    left -= extent.length;
    write.data = std::make_unique<std::string>(std::move(extent.data));
    write.cookie = nbd_aio_pwrite(handle, write.data->data(), write.data->size(), extent.offset,
                                  NBD_NULL_COMPLETION, 0);
  } else {
    write.cookie = nbd_aio_zero(handle, extent.length, extent.offset, NBD_NULL_COMPLETION, 0);
  }
  if (write.cookie < 0) {
    throw ImageError("writing disk " + disk.diskId + " failed: " + nbd_get_error());
  }
  // libnbd moves bytes only when polled: hand the whole request to qemu-nbd now, rather than a
  // socket buffer's worth per extent, so that its write overlaps verifying the next extent.
  while ((nbd_aio_get_direction(handle) & LIBNBD_AIO_DIRECTION_WRITE) != 0) {
    if (nbd_poll(handle, -1) < 0) break;
  }
  write.handle = handle;
  run.writes.push_back(std::move(write));
  run.issuedDisk = extent.disk;
  run.issuedOffset = extent.offset + extent.length;
  retireWrites(run, run.writes.size() >= kWritesInFlight);
}

void ReplicationReceiver::retireWrites(ActiveRun& run, bool wait) {
  // Oldest first: the resume point only moves past writes that completed in order.
  while (!run.writes.empty()) {
    auto& head = run.writes.front();
    nbd_poll(head.handle, 0);  // libnbd moves requests and replies only when polled
    int done = nbd_aio_command_completed(head.handle, head.cookie);
    while (done == 0 && (wait || run.writes.size() >= kWritesInFlight)) {
      if (nbd_poll(head.handle, -1) < 0) break;
      done = nbd_aio_command_completed(head.handle, head.cookie);
    }
    if (done == 0) return;
    if (done != 1) {
      // The run fails; failRun closes the handles before the other buffers go.
      const std::string error = nbd_get_error() ? nbd_get_error() : "unknown error";
      throw ImageError("writing disk " + run.disks[head.disk].diskId + " failed: " + error);
    }
    auto& figures = run.record.disks[head.disk];
    (head.zero ? figures.zeroBytes : figures.changedBytes) += head.length;
    figures.wireBytes += head.wireBytes;
    ++figures.extents;
    run.disk = head.disk;
    run.offset = head.offset + head.length;
    run.writes.pop_front();
  }
}

nlohmann::json ReplicationReceiver::commitRun(ActiveRun& run, const nlohmann::json& totals) {
  const auto received = totalsOf(run.record);
  if (totals.value("extents", std::uint64_t{0}) != received.extents ||
      totals.value("changedBytes", std::uint64_t{0}) != received.changedBytes ||
      totals.value("zeroBytes", std::uint64_t{0}) != received.zeroBytes) {
    const std::string message =
        "the run is incomplete: the agent sent " + totals.dump() + ", the SP received " +
        std::to_string(received.extents) + " extents, " + std::to_string(received.changedBytes) +
        " changed bytes, " + std::to_string(received.zeroBytes) + " zero bytes";
    failRun(run, message);
    throw ProtocolError("incomplete_run", message);
  }
  const std::string pointId = domain::newId(domain::kReplicatedPointPrefix);
  std::vector<const ActiveRun::Disk*> snapshotted;
  try {
    for (auto& disk : run.disks) {
      disk.image->close();  // flushed, and the image closed for qemu-img
      disk.image.reset();
      run.record.disks[&disk - run.disks.data()].durationMs =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - disk.started)
              .count();
    }
    for (const auto& disk : run.disks) {
      createSnapshot(disk.path, pointId);
      snapshotted.push_back(&disk);
    }
  } catch (const std::exception& e) {
    for (const auto* disk : snapshotted) {
      try {
        deleteSnapshot(disk->path, pointId);
      } catch (const ImageError&) {
      }
    }
    failRun(run, std::string("cannot create the restore point: ") + e.what());
    throw;
  }

  // Record the restore point and the run, then drop the oldest beyond the retention.
  std::vector<std::string> expired;
  store_.write([&](store::Transaction& tx) {
    auto scope = tx.tenant(run.record.tenantId);
    domain::RestorePoint point;
    point.id = pointId;
    point.replicaId = run.record.replicaId;
    point.tenantId = run.record.tenantId;
    point.description = run.record.kind + " replication run " + run.record.id;
    point.createdUnix = security::nowUnix();
    point.origin = "replication";
    point.dataBytes = received.changedBytes;
    scope->insertRestorePoint(point);
    run.record.state = domain::ReplicationRunState::kCommitted;
    run.record.restorePointId = pointId;
    run.record.finishedUnix = security::nowUnix();
    scope->updateReplicationRun(run.record);
    std::vector<std::string> replicated;
    for (const auto& existing : scope->restorePoints(run.record.replicaId))
      if (existing.origin == "replication") replicated.push_back(existing.id);
    while (replicated.size() > run.retention) {
      expired.push_back(replicated.front());
      scope->deleteRestorePoint(run.record.replicaId, replicated.front());
      replicated.erase(replicated.begin());
    }
  });
  // The catalogue no longer lists them; a snapshot left behind by a failure here costs only space.
  for (const auto& id : expired) {
    for (const auto& disk : run.disks) {
      try {
        deleteSnapshot(disk.path, id);
      } catch (const ImageError&) {
      }
    }
  }
  return committedReply(run.record, expired);
}

void ReplicationReceiver::serveFailback(FrameStream& stream, const std::string& tenantId,
                                        const nlohmann::json& request) {
  const std::string replicaId = request.value("replicaId", "");
  const auto replica = store_.read([&](store::Transaction& tx) {
    auto found = tx.tenant(tenantId)->findReplica(replicaId);
    if (!found) throw ProtocolError("not_found", "replica " + replicaId + " not found");
    return *found;
  });
  if (replica.state != domain::ReplicaState::kFailover &&
      replica.state != domain::ReplicaState::kFailback) {
    throw ProtocolError("replica_busy", "replica " + replica.name + " is " +
                                            std::string(domain::toString(replica.state)) +
                                            "; failback follows a failover");
  }
  // Incremental when the agent's changes are counted from the point the failover booted: then
  // the blocks to send are those changed at the SP since, plus those the tenant changed since
  // (they must be overwritten too). Otherwise every block.
  const std::string base = data_.failbackBase(tenantId, replicaId);
  const std::string agentBase = request.value("basePointId", "");
  const bool incremental = !base.empty() && base == agentBase;
  const std::string reason = incremental ? std::string()
                             : base.empty()
                                 ? "the replica's data has no failback bitmap"
                                 : "the tenant's disks do not count their changes from " + base;
  const auto disks = request.value("disks", nlohmann::json::array());
  if (!disks.is_array() || disks.empty() || disks.size() > replica.disks.size()) {
    throw ProtocolError("bad_request", "FAILBACK_BEGIN must list the replica's disks");
  }
  struct Source {
    std::unique_ptr<NbdExport> image;
    std::vector<DiskRange> ranges;
  };
  std::vector<Source> sources;
  nlohmann::json plan{{"kind", incremental ? "incremental" : "full"},
                      {"reason", reason},
                      {"disks", nlohmann::json::array()}};
  std::uint64_t changed = 0, zero = 0, extents = 0;
  for (const auto& entry : disks) {
    const std::string diskId = entry.value("diskId", "");
    const auto path = data_.diskPath(tenantId, replicaId, diskId);
    if (std::none_of(replica.disks.begin(), replica.disks.end(),
                     [&](const domain::ReplicaDisk& d) { return d.diskId == diskId; }) ||
        !std::filesystem::exists(path)) {
      throw ProtocolError("not_found",
                          "replica " + replica.name + " has no data for disk " + diskId);
    }
    std::vector<DiskRange> tenantChanges;
    for (const auto& range : entry.value("tenantChanges", nlohmann::json::array())) {
      if (!range.is_array() || range.size() != 2) {
        throw ProtocolError("bad_request", "tenantChanges must be [offset, length] pairs");
      }
      tenantChanges.push_back(
          {range[0].get<std::uint64_t>(), range[1].get<std::uint64_t>(), false});
    }
    NbdExport::Options options;
    if (incremental) options.dirtyBitmap = std::string(ReplicaDataStore::kFailbackBitmap);
    Source source{std::make_unique<NbdExport>(path, options), {}};
    if (entry.value("sizeBytes", std::uint64_t{0}) != source.image->size()) {
      throw ProtocolError("disk_size_mismatch",
                          "disk " + diskId + " is " + std::to_string(source.image->size()) +
                              " bytes at the SP; the tenant's disk must be that size");
    }
    source.ranges = source.image->rangesToSend(incremental, kMaxExtentLength, tenantChanges);
    std::uint64_t diskChanged = 0, diskZero = 0;
    for (const auto& range : source.ranges) (range.zero ? diskZero : diskChanged) += range.length;
    plan["disks"].push_back({{"diskId", diskId},
                             {"sizeBytes", source.image->size()},
                             {"changedBytes", diskChanged},
                             {"zeroBytes", diskZero},
                             {"extents", source.ranges.size()}});
    changed += diskChanged;
    zero += diskZero;
    extents += source.ranges.size();
    sources.push_back(std::move(source));
  }
  stream.sendJson(FrameType::kFailbackPlan, plan);
  for (std::size_t i = 0; i < sources.size(); ++i) {
    sources[i].image->readRanges(
        sources[i].ranges, 8, [&](const DiskRange& range, std::string&& bytes) {
          stream.send(
              FrameType::kExtent,
              packExtent(extentOf(static_cast<std::uint16_t>(i), range, std::move(bytes)), 1).body);
        });
  }
  stream.sendJson(FrameType::kFailbackDone,
                  {{"extents", extents}, {"changedBytes", changed}, {"zeroBytes", zero}});
  stream.expect(FrameType::kFailbackDone);  // the agent flushed them
}

void ReplicationReceiver::failRun(ActiveRun& run, const std::string& error) {
  run.closeImages();  // qemu-nbd stops; the data stays uncommitted
  if (run.record.state != domain::ReplicationRunState::kRunning) return;
  run.record.state = domain::ReplicationRunState::kFailed;
  run.record.error = error;
  run.record.finishedUnix = security::nowUnix();
  try {
    store_.write([&](store::Transaction& tx) {
      tx.tenant(run.record.tenantId)->updateReplicationRun(run.record);
    });
  } catch (const store::StoreError&) {
    // The row stays "running" and is closed at the next start.
  }
  std::lock_guard lock(mutex_);
  runs_.erase(run.record.id);
}

void ReplicationReceiver::reapAbandonedRuns() {
  std::vector<std::shared_ptr<ActiveRun>> abandoned;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, run] : runs_) {
      if (run->connection == nullptr && Clock::now() - run->detachedAt > options_.resumeWindow) {
        abandoned.push_back(run);
      }
    }
  }
  for (auto& run : abandoned) {
    std::unique_lock runLock(run->mutex, std::try_to_lock);
    if (!runLock.owns_lock()) continue;
    failRun(*run, "the agent did not resume the run within " +
                      std::to_string(options_.resumeWindow.count()) + " s");
  }
}

}  // namespace warmsite::replication
