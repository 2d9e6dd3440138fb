#include "replication/job_schedule.h"

#include <algorithm>
#include <exception>

namespace warmsite::replication {

void JobSchedule::setJob(const std::vector<std::string>& replicaIds,
                         std::optional<std::chrono::minutes> every) {
  every_ = every;
  std::vector<Entry> entries;
  for (const auto& id : replicaIds) {
    auto known = std::find_if(entries_.begin(), entries_.end(),
                              [&](const Entry& entry) { return entry.replicaId == id; });
    entries.push_back(known != entries_.end() ? *known : Entry{id, start_});
  }
  entries_ = std::move(entries);
}

std::optional<std::pair<std::string, JobSchedule::Clock::time_point>> JobSchedule::next() const {
  const Entry* first = nullptr;
  for (const auto& entry : entries_) {
    if (entry.due && (first == nullptr || *entry.due < *first->due)) first = &entry;
  }
  if (first == nullptr) return std::nullopt;
  return std::make_pair(first->replicaId, *first->due);
}

void JobSchedule::ran(const std::string& replicaId, Clock::time_point started, bool succeeded) {
  auto entry = std::find_if(entries_.begin(), entries_.end(),
                            [&](const Entry& e) { return e.replicaId == replicaId; });
  if (entry == entries_.end()) return;
  if (!every_) {
    entry->due.reset();
  } else if (succeeded) {
    entry->due = started + *every_;
  } else {
    entry->due = started + std::min<std::chrono::minutes>(kRetryAfterFailure, *every_);
  }
}

namespace {

std::string inSeconds(JobSchedule::Clock::time_point due) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(due - JobSchedule::Clock::now()).count();
  return std::to_string(std::max<long long>(seconds, 0)) + " s";
}

}  // namespace

int runJobSchedule(const ScheduleHooks& hooks, bool once) {
  const auto log = [&](const std::string& line) {
    if (hooks.log) hooks.log(line);
  };
  auto job = hooks.fetchJob();
  if (!job) throw std::runtime_error("the replication job does not exist");
  JobSchedule schedule(JobSchedule::Clock::now());
  schedule.setJob(job->replicaIds, once ? std::nullopt : job->every);
  int failures = 0;
  while (const auto next = schedule.next()) {
    const auto& [replicaId, due] = *next;
    if (due > JobSchedule::Clock::now()) {
      log("next run: replica " + replicaId + " in " + inSeconds(due));
      if (!hooks.waitUntil(due)) break;
      // Edits to the job, and its deletion, take effect before the next run.
      try {
        job = hooks.fetchJob();
      } catch (const std::exception& e) {
        log("cannot read the job (" + std::string(e.what()) + "); keeping its last schedule");
        continue;
      }
      if (!job) {
        log("the replication job was deleted; stopping");
        break;
      }
      schedule.setJob(job->replicaIds, once ? std::nullopt : job->every);
      continue;
    }
    const auto started = JobSchedule::Clock::now();
    bool succeeded = true;
    try {
      const auto result = hooks.run(replicaId);
      log("replica " + replicaId + ": " + result.kind + " run " + result.runId +
          " -> restore point " + result.restorePointId + ", " +
          std::to_string(result.changedBytes) + " changed bytes");
    } catch (const std::exception& e) {
      succeeded = false;
      ++failures;
      log("replica " + replicaId + ": run failed: " + e.what());
    }
    schedule.ran(replicaId, started, succeeded);
  }
  return failures;
}

}  // namespace warmsite::replication
