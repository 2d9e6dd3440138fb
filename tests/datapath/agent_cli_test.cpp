// The warmsite-agent program and the replication commands of the warmsite CLI, as a tenant and an
// SP run them: child processes against an orchestrator on loopback.
#include <gtest/gtest.h>

#include <fstream>

#include "engine/script_runner.h"
#include "tests/cli/cli_fixture.h"

namespace warmsite::clitest {
namespace {

class AgentCliTest : public CliTest {
 protected:
  void SetUp() override {
    if (!engine::runCommand({"qemu-nbd", "--version"}, {}, std::chrono::seconds(10)).succeeded) {
      GTEST_SKIP() << "qemu-nbd is not installed";
    }
    CliTest::SetUp();
    auto sp = admin();
    const auto host = cloudHost(sp);
    vlanRange(sp, host, 100, 109, true);
    vlanRange(sp, host, 200, 209, false);
    const auto tenantId = tenant(sp, "Acme");
    const auto subscription = subscribe(sp, tenantId, plan(sp, host));
    auto acme = client("Acme", kTenantPassword);
    auto created =
        acme.post("/api/v1/replicas", {{"subscription_id", subscription},
                                       {"name", "web"},
                                       {"vcpus", 1},
                                       {"cpu_mhz", 1000},
                                       {"memory_mb", 512},
                                       {"disks", {{{"storage", "gold"}, {"size_gb", 1}}}}});
    ASSERT_STATUS(created, 202);
    replica_ = created.json()["replica"]["id"];
    waitTask(acme, created.json()["task"]["id"]);

    source_ = dataDir_ / "web.qcow2";
    ASSERT_TRUE(qemu({"qemu-img", "create", "-q", "-f", "qcow2", source_, "32M"}));
    ASSERT_TRUE(qemu({"qemu-io", "-f", "qcow2", "-c", "write -q -P 0x5a 0 4M", source_}));
    passwordFile_ = dataDir_ / "password";
    std::ofstream(passwordFile_) << kTenantPassword << "\n";
  }

  static bool qemu(const std::vector<std::string>& arguments) {
    return engine::runCommand(arguments, {}, std::chrono::seconds(60)).succeeded;
  }

  CliResult agent(const std::string& thumbprint) {
    return runProgram(
        WARMSITE_AGENT,
        {"run", "--server", "127.0.0.1", "--api-port", std::to_string(orchestrator_->port()),
         "--port", std::to_string(orchestrator_->replicationPort()), "--thumbprint", thumbprint,
         "--tenant", "Acme", "--password-file", passwordFile_.string(), "--replica", replica_,
         "--disk", "disk-0=" + source_.string(), "--state-dir", (dataDir_ / "agent").string()},
        "", home_);
  }

  // `warmsite-agent schedule` with `extra` arguments; under timeout(1) when `stopAfterSeconds` is
  // set, which sends SIGTERM then (a daemon's stop) and passes the agent's exit status on.
  CliResult schedule(const std::vector<std::string>& extra, int stopAfterSeconds = 0) {
    std::vector<std::string> args = {"schedule",
                                     "--server",
                                     "127.0.0.1",
                                     "--api-port",
                                     std::to_string(orchestrator_->port()),
                                     "--port",
                                     std::to_string(orchestrator_->replicationPort()),
                                     "--thumbprint",
                                     thumbprint_,
                                     "--tenant",
                                     "Acme",
                                     "--password-file",
                                     passwordFile_.string(),
                                     "--state-dir",
                                     (dataDir_ / "agent").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    if (stopAfterSeconds == 0) return runProgram(WARMSITE_AGENT, args, "", home_);
    args.insert(args.begin(), {"--preserve-status", "-s", "TERM", std::to_string(stopAfterSeconds),
                               WARMSITE_AGENT});
    return runProgram("/usr/bin/timeout", args, "", home_);
  }

  std::string replica_;
  std::filesystem::path source_, passwordFile_;
};

TEST_F(AgentCliTest, TheAgentSeedsThenSendsChangesAndTheCliShowsTheRuns) {
  const auto first = agent(thumbprint_);
  ASSERT_RUN_OK(first);
  EXPECT_NE(first.out.find("full run"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("first run (seeding)"), std::string::npos) << first.out;

  ASSERT_TRUE(qemu({"qemu-io", "-f", "qcow2", "-c", "write -q -P 0x11 8M 64k", source_}));
  const auto second = agent(thumbprint_);
  ASSERT_RUN_OK(second);
  EXPECT_NE(second.out.find("incremental run"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("65536 changed bytes"), std::string::npos) << second.out;

  login("acme", "Acme", kTenantPassword);
  const auto runs = json({"--profile", "acme", "replication", "runs", "--replica", replica_});
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0]["kind"], "incremental");
  EXPECT_EQ(runs[0]["changed_bytes"], 65536);
  EXPECT_EQ(runs[1]["result"], "success");
  const auto table = run({"--profile", "acme", "replication", "runs"});
  ASSERT_RUN_OK(table);
  EXPECT_NE(table.out.find("CHANGED MB"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("first run (seeding)"), std::string::npos) << table.out;

  const auto points = json({"--profile", "acme", "replica", "restore-point", "list", replica_});
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[1]["origin"], "replication");
  EXPECT_EQ(points[1]["data_bytes"], 65536);
}

TEST_F(AgentCliTest, TheAgentRefusesAnSpWhoseCertificateIsNotThePinnedOne) {
  std::string other = "00";
  for (int i = 1; i < 32; ++i) other += ":00";
  const auto refused = agent(other);
  EXPECT_EQ(refused.exitCode, 1);
  EXPECT_NE(refused.err.find("certificate changed"), std::string::npos) << refused.err;
  EXPECT_FALSE(std::filesystem::exists(dataDir_ / "agent" / (replica_ + ".json")));
}

TEST_F(AgentCliTest, ARunningDomainThatIsNotThereIsRefusedBeforeAnythingChanges) {
  const std::vector<std::string> connection = {
      "--server",        "127.0.0.1",
      "--api-port",      std::to_string(orchestrator_->port()),
      "--port",          std::to_string(orchestrator_->replicationPort()),
      "--thumbprint",    thumbprint_,
      "--tenant",        "Acme",
      "--password-file", passwordFile_.string(),
      "--replica",       replica_,
      "--disk",          "disk-0=vda",
      "--domain",        "nowhere",
      "--libvirt-uri",   "test:///default",
      "--state-dir",     (dataDir_ / "agent").string()};
  auto run = connection;
  run.insert(run.begin(), "run");
  const auto refused = runProgram(WARMSITE_AGENT, run, "", home_);
  EXPECT_EQ(refused.exitCode, 1);
  EXPECT_NE(refused.err.find("libvirt at test:///default has no domain nowhere"), std::string::npos)
      << refused.err;
  EXPECT_FALSE(std::filesystem::exists(dataDir_ / "agent" / (replica_ + ".json")));

  // On a schedule: the replica's domain, by replica.
  const auto job =
      client("Acme", kTenantPassword)
          .post("/api/v1/replication-jobs", {{"name", "hourly"}, {"replica_ids", {replica_}}});
  ASSERT_STATUS(job, 201);
  const std::string jobId = job.json()["id"];
  const auto malformed =
      schedule({"--job", jobId, "--disk", replica_ + ":disk-0=vda", "--domain", "nowhere"});
  EXPECT_EQ(malformed.exitCode, 2);
  EXPECT_NE(malformed.err.find("--domain must be REPLICA_ID=DOMAIN"), std::string::npos)
      << malformed.err;
  const auto scheduled =
      schedule({"--job", jobId, "--disk", replica_ + ":disk-0=vda", "--domain",
                replica_ + "=nowhere", "--libvirt-uri", "test:///default", "--once"});
  EXPECT_EQ(scheduled.exitCode, 1);
  EXPECT_NE(scheduled.out.find("has no domain nowhere"), std::string::npos) << scheduled.out;
  EXPECT_NE(scheduled.out.find("schedule ended: 1 failed run(s)"), std::string::npos)
      << scheduled.out;
  EXPECT_FALSE(std::filesystem::exists(dataDir_ / "agent" / (replica_ + ".json")));
}

TEST_F(AgentCliTest, JobsAreCreatedListedAndDeletedFromTheCli) {
  login("acme", "Acme", kTenantPassword);
  const auto created = run({"--profile", "acme", "replication", "job", "create", "--name",
                            "nightly", "--replica", replica_, "--retention", "3"});
  ASSERT_RUN_OK(created);
  const auto jobs = json({"--profile", "acme", "replication", "job", "list"});
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["retention"], 3);
  EXPECT_TRUE(jobs[0]["schedule_minutes"].is_null());
  const auto twice = run({"--profile", "acme", "replication", "job", "create", "--name", "NIGHTLY",
                          "--replica", replica_});
  EXPECT_NE(twice.exitCode, 0);
  EXPECT_NE(twice.err.find("exists"), std::string::npos) << twice.err;
  const auto unknown = run({"--profile", "acme", "replication", "job", "create", "--name", "x",
                            "--replica", "rep-nowhere"});
  EXPECT_NE(unknown.exitCode, 0);
  EXPECT_NE(unknown.err.find("rep-nowhere"), std::string::npos) << unknown.err;
  ASSERT_RUN_OK(run({"--profile", "acme", "replication", "job", "delete", jobs[0]["id"]}));
  EXPECT_TRUE(json({"--profile", "acme", "replication", "job", "list"}).empty());
}

TEST_F(AgentCliTest, AScheduledAgentRunsTheJobUntilSigtermAndChecksItsDisksFirst) {
  auto acme = client("Acme", kTenantPassword);
  const auto job =
      acme.post("/api/v1/replication-jobs",
                {{"name", "hourly"}, {"replica_ids", {replica_}}, {"schedule_minutes", 60}});
  ASSERT_STATUS(job, 201);
  const std::string jobId = job.json()["id"];
  const std::string disk = replica_ + ":disk-0=" + source_.string();

  const auto unmapped =
      schedule({"--job", jobId, "--disk", "rep-other:disk-0=" + source_.string()});
  EXPECT_EQ(unmapped.exitCode, 2);
  EXPECT_NE(unmapped.err.find("replica " + replica_ + " of job " + jobId + " has no --disk"),
            std::string::npos)
      << unmapped.err;
  const auto missing = schedule({"--job", "job-nowhere", "--disk", disk});
  EXPECT_EQ(missing.exitCode, 1);
  EXPECT_NE(missing.err.find("job-nowhere does not exist"), std::string::npos) << missing.err;
  EXPECT_TRUE(acme.get("/api/v1/replicas/" + replica_ + "/replication-runs").json().empty());

  const auto scheduled = schedule({"--job", jobId, "--disk", disk}, 8);
  ASSERT_EQ(scheduled.exitCode, 0) << scheduled.out << scheduled.err;
  EXPECT_NE(scheduled.out.find("full run"), std::string::npos) << scheduled.out;
  EXPECT_NE(scheduled.out.find("next run: replica " + replica_ + " in 35"), std::string::npos)
      << scheduled.out;
  EXPECT_NE(scheduled.out.find("schedule ended: 0 failed run(s)"), std::string::npos)
      << scheduled.out;

  ASSERT_TRUE(qemu({"qemu-io", "-f", "qcow2", "-c", "write -q -P 0x22 1M 64k", source_}));
  const auto once = schedule({"--job", jobId, "--disk", disk, "--once"});
  ASSERT_RUN_OK(once);
  EXPECT_NE(once.out.find("incremental run"), std::string::npos) << once.out;
  EXPECT_EQ(once.out.find("next run"), std::string::npos) << once.out;
  const auto runs = acme.get("/api/v1/replicas/" + replica_ + "/replication-runs").json();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0]["job_id"], jobId);
  EXPECT_EQ(runs[0]["changed_bytes"], 65536);
}

}  // namespace
}  // namespace warmsite::clitest
