#pragma once
// The agent's side of a replication job's schedule: which of the job's replicas runs next and
// when. Every replica runs once at the start; then each runs `every` after its previous run began
// (a run longer than that is followed at once by the next). A failed run is retried after a
// minute, or after `every` when that is shorter. A job without a schedule runs each replica once.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "replication/agent.h"

namespace warmsite::replication {

class JobSchedule {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::minutes kRetryAfterFailure{1};

  // Replicas added by setJob() are due at `now`.
  explicit JobSchedule(Clock::time_point now) : start_(now) {}

  // The job as the SP has it now: replicas new to it are due at once, removed ones dropped.
  void setJob(const std::vector<std::string>& replicaIds,
              std::optional<std::chrono::minutes> every);
  // The replica due first and when; nullopt when nothing is left (an on-demand job that ran).
  std::optional<std::pair<std::string, Clock::time_point>> next() const;
  void ran(const std::string& replicaId, Clock::time_point started, bool succeeded);

 private:
  struct Entry {
    std::string replicaId;
    std::optional<Clock::time_point> due;  // nullopt: done for good
  };
  std::optional<std::chrono::minutes> every_;
  Clock::time_point start_;
  std::vector<Entry> entries_;  // in the job's order, which breaks ties
};

// What a scheduled agent needs from around it; main() wires the SP's API and the clock.
struct ScheduleHooks {
  struct Job {
    std::vector<std::string> replicaIds;
    std::optional<std::chrono::minutes> every;
  };
  // The job as the SP has it now; nullopt when it no longer exists. Throws when unreachable.
  std::function<std::optional<Job>()> fetchJob;
  // One run of a replica (AgentOptions::replicaId set); throws as replicate() does.
  std::function<AgentRunResult(const std::string& replicaId)> run;
  // Waits until `until` or a stop request; false when asked to stop.
  std::function<bool(JobSchedule::Clock::time_point until)> waitUntil;
  AgentLog log;
};

// Runs the job's replicas on its schedule until a stop request, or until an on-demand job has run
// each replica once (`once`: one pass of a scheduled job too). Returns the number of failed runs.
int runJobSchedule(const ScheduleHooks& hooks, bool once);

}  // namespace warmsite::replication
