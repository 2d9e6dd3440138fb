// The agent's schedule of a replication job: which replica runs when, and the loop that runs
// them (its SP, runs and clock given as hooks).
#include "replication/job_schedule.h"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

namespace warmsite::replication {
namespace {

using std::chrono::minutes;
using Clock = JobSchedule::Clock;

TEST(JobSchedule, EveryReplicaRunsAtOnceInJobOrderThenOnItsOwnSchedule) {
  const auto t0 = Clock::now();
  JobSchedule schedule(t0);
  schedule.setJob({"rep-b", "rep-a"}, minutes(10));
  ASSERT_EQ(schedule.next()->first, "rep-b");
  EXPECT_LE(schedule.next()->second, t0);
  schedule.ran("rep-b", t0, true);
  ASSERT_EQ(schedule.next()->first, "rep-a");
  schedule.ran("rep-a", t0 + minutes(3), true);
  EXPECT_EQ(*schedule.next(), std::make_pair(std::string("rep-b"), t0 + minutes(10)));
  schedule.ran("rep-b", t0 + minutes(10), true);
  EXPECT_EQ(*schedule.next(), std::make_pair(std::string("rep-a"), t0 + minutes(13)));
}

TEST(JobSchedule, AFailedRunIsRetriedAfterAMinute) {
  const auto t0 = Clock::now();
  JobSchedule schedule(t0);
  schedule.setJob({"rep-a"}, minutes(60));
  schedule.ran("rep-a", t0, false);
  EXPECT_EQ(schedule.next()->second, t0 + JobSchedule::kRetryAfterFailure);
  schedule.ran("rep-a", t0 + minutes(1), true);
  EXPECT_EQ(schedule.next()->second, t0 + minutes(61));
}

TEST(JobSchedule, AnOnDemandJobRunsEachReplicaOnceEvenWhenARunFails) {
  JobSchedule schedule(Clock::now());
  schedule.setJob({"rep-a", "rep-b"}, std::nullopt);
  schedule.ran("rep-a", Clock::now(), true);
  schedule.ran("rep-b", Clock::now(), false);
  EXPECT_FALSE(schedule.next().has_value());
}

TEST(JobSchedule, AnEditedJobAddsReplicasDueAtOnceAndDropsRemovedOnes) {
  const auto t0 = Clock::now();
  JobSchedule schedule(t0);
  schedule.setJob({"rep-a", "rep-b"}, minutes(30));
  schedule.ran("rep-a", t0, true);
  schedule.ran("rep-b", t0, true);
  schedule.setJob({"rep-b", "rep-c"}, minutes(30));
  EXPECT_EQ(*schedule.next(), std::make_pair(std::string("rep-c"), t0));
  schedule.ran("rep-c", t0, true);
  EXPECT_EQ(schedule.next()->first, "rep-b");  // rep-a is gone; rep-b keeps its time
  EXPECT_EQ(schedule.next()->second, t0 + minutes(30));
}

struct Recorder {
  std::vector<std::string> runs, log;
  std::vector<Clock::time_point> waits;
  std::optional<ScheduleHooks::Job> job = ScheduleHooks::Job{{"rep-a", "rep-b"}, minutes(5)};
  std::set<std::string> failing;
  int waitsAllowed = 0;

  ScheduleHooks hooks() {
    ScheduleHooks hooks;
    hooks.fetchJob = [this] { return job; };
    hooks.run = [this](const std::string& replicaId) {
      runs.push_back(replicaId);
      if (failing.contains(replicaId)) throw std::runtime_error("disk gone");
      AgentRunResult result;
      result.kind = "incremental";
      result.runId = "run-" + std::to_string(runs.size());
      return result;
    };
    hooks.waitUntil = [this](Clock::time_point until) {
      waits.push_back(until);
      return static_cast<int>(waits.size()) <= waitsAllowed;
    };
    hooks.log = [this](const std::string& line) { log.push_back(line); };
    return hooks;
  }
};

TEST(JobScheduleLoop, RunsEveryReplicaThenWaitsForTheNextDueOneUntilStopped) {
  Recorder recorder;
  const auto start = Clock::now();
  EXPECT_EQ(runJobSchedule(recorder.hooks(), false), 0);
  EXPECT_EQ(recorder.runs, (std::vector<std::string>{"rep-a", "rep-b"}));
  ASSERT_EQ(recorder.waits.size(), 1u);  // the stop came during the first wait
  EXPECT_GE(recorder.waits[0], start + minutes(5));
  EXPECT_LE(recorder.waits[0], Clock::now() + minutes(5));
  EXPECT_EQ(recorder.log.back().rfind("next run: replica rep-a in 29", 0), 0u)
      << recorder.log.back();
}

TEST(JobScheduleLoop, FailedRunsAreCountedAndRetriedAndADeletedJobEndsTheLoop) {
  Recorder recorder;
  recorder.failing = {"rep-b"};
  recorder.waitsAllowed = 1;
  auto hooks = recorder.hooks();
  hooks.fetchJob = [&recorder, calls = 0]() mutable {
    return ++calls <= 1 ? recorder.job : std::nullopt;  // deleted while the agent waited
  };
  EXPECT_EQ(runJobSchedule(hooks, false), 1);
  EXPECT_EQ(recorder.runs, (std::vector<std::string>{"rep-a", "rep-b"}));
  EXPECT_EQ(recorder.log[1], "replica rep-b: run failed: disk gone");
  ASSERT_EQ(recorder.waits.size(), 1u);
  EXPECT_LE(recorder.waits[0], Clock::now() + JobSchedule::kRetryAfterFailure);  // rep-b's retry
  EXPECT_EQ(recorder.log.back(), "the replication job was deleted; stopping");
}

TEST(JobScheduleLoop, OnceRunsEachReplicaOnceWithoutWaiting) {
  Recorder recorder;
  EXPECT_EQ(runJobSchedule(recorder.hooks(), true), 0);
  EXPECT_EQ(recorder.runs.size(), 2u);
  EXPECT_TRUE(recorder.waits.empty());
}

TEST(JobScheduleLoop, AJobThatDoesNotExistIsAnError) {
  Recorder recorder;
  recorder.job.reset();
  EXPECT_THROW(runJobSchedule(recorder.hooks(), false), std::runtime_error);
  EXPECT_TRUE(recorder.runs.empty());
}

}  // namespace
}  // namespace warmsite::replication
