// Logins, tokens, lockout, disabled tenants, and the TLS rules of the listener.
#include <gmock/gmock.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "tests/api/api_fixture.h"

namespace warmsite::apitest {
namespace {

using ::testing::HasSubstr;

TEST_F(ApiTest, HealthNeedsNoLoginButEverythingElseDoes) {
  auto anonymous = client();
  EXPECT_STATUS(anonymous.get("/api/v1/health"), 200);
  auto refused = anonymous.get("/api/v1/tenants");
  EXPECT_STATUS(refused, 401);
  EXPECT_EQ(refused.json()["code"], "unauthenticated");
  anonymous.setToken("not-a-token");
  EXPECT_STATUS(anonymous.get("/api/v1/tenants"), 401);
}

TEST_F(ApiTest, LoginReturnsAnExpiringTokenStoredOnlyAsAHash) {
  auto anonymous = client();
  auto login =
      anonymous.post("/api/v1/auth/login", {{"name", "admin"}, {"password", kAdminPassword}});
  ASSERT_STATUS(login, 200);
  const auto token = login.json()["token"].get<std::string>();
  EXPECT_GE(token.size(), 40u);
  EXPECT_GT(login.json()["expires_at"].get<std::int64_t>(), security::nowUnix());
  EXPECT_EQ(dumpStore().find(token), std::string::npos);
  EXPECT_EQ(login.json()["account"]["role"], "provider");

  anonymous.setToken(token);
  auto session = anonymous.get("/api/v1/auth/session");
  ASSERT_STATUS(session, 200);
  EXPECT_EQ(session.json()["account"]["name"], "admin");

  EXPECT_STATUS(anonymous.request("POST", "/api/v1/auth/logout"), 204);
  EXPECT_STATUS(anonymous.get("/api/v1/auth/session"), 401);  // revoked
}

TEST_F(ApiTest, WrongPasswordAndUnknownNameLookTheSame) {
  auto anonymous = client();
  auto wrong =
      anonymous.post("/api/v1/auth/login", {{"name", "admin"}, {"password", "nope-nope-nope"}});
  auto unknown =
      anonymous.post("/api/v1/auth/login", {{"name", "nobody"}, {"password", "nope-nope-nope"}});
  EXPECT_STATUS(wrong, 401);
  EXPECT_STATUS(unknown, 401);
  EXPECT_EQ(wrong.json()["message"], unknown.json()["message"]);
}

TEST_F(ApiTest, RepeatedFailuresLockTheAccountForAWhile) {
  restart([](daemon::OrchestratorOptions& o) {
    o.auth.maxFailedLogins = 3;
    o.auth.lockoutDuration = std::chrono::seconds(2);
  });
  auto anonymous = client();
  for (int i = 0; i < 3; ++i) {
    EXPECT_STATUS(
        anonymous.post("/api/v1/auth/login", {{"name", "admin"}, {"password", "wrong-password"}}),
        401);
  }
  auto locked =
      anonymous.post("/api/v1/auth/login", {{"name", "admin"}, {"password", kAdminPassword}});
  EXPECT_STATUS(locked, 403);
  EXPECT_EQ(locked.json()["code"], "account_locked");
  EXPECT_THAT(locked.json()["message"].get<std::string>(), HasSubstr("locked"));
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_STATUS(
      anonymous.post("/api/v1/auth/login", {{"name", "admin"}, {"password", kAdminPassword}}), 200);
}

TEST_F(ApiTest, TokensExpire) {
  // Two seconds: expiry is kept in whole seconds, so a token lives at least one full second.
  restart([](daemon::OrchestratorOptions& o) { o.auth.tokenLifetime = std::chrono::seconds(2); });
  auto sp = admin();
  EXPECT_STATUS(sp.get("/api/v1/tenants"), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  auto expired = sp.get("/api/v1/tenants");
  EXPECT_STATUS(expired, 401);
  EXPECT_THAT(expired.json()["message"].get<std::string>(), HasSubstr("expired"));
}

TEST_F(ApiTest, DisablingATenantEndsItsSessionsAndRefusesLogins) {
  auto sp = admin();
  const auto id = tenant(sp, "Acme");
  auto acme = client("Acme", "tenant-pass-1");
  EXPECT_STATUS(acme.get("/api/v1/tenants/" + id), 200);
  EXPECT_STATUS(sp.request("PATCH", "/api/v1/tenants/" + id, R"({"enabled": false})"), 200);
  EXPECT_STATUS(acme.get("/api/v1/tenants/" + id), 401);
  auto refused =
      client().post("/api/v1/auth/login", {{"name", "Acme"}, {"password", "tenant-pass-1"}});
  EXPECT_STATUS(refused, 403);
  EXPECT_EQ(refused.json()["code"], "tenant_disabled");
}

TEST_F(ApiTest, ChangingOnesPasswordEndsOtherSessions) {
  auto sp = admin();
  tenant(sp, "Acme");
  auto first = client("Acme", "tenant-pass-1");
  auto second = client("Acme", "tenant-pass-1");
  EXPECT_STATUS(
      first.request("PUT", "/api/v1/auth/password",
                    R"({"current_password": "wrong-one", "new_password": "brand-new-pass"})"),
      403);
  EXPECT_STATUS(first.request("PUT", "/api/v1/auth/password",
                              R"({"current_password": "tenant-pass-1", "new_password": "short"})"),
                400);
  EXPECT_STATUS(
      first.request("PUT", "/api/v1/auth/password",
                    R"({"current_password": "tenant-pass-1", "new_password": "brand-new-pass"})"),
      204);
  EXPECT_STATUS(second.get("/api/v1/subscriptions"), 401);
  EXPECT_STATUS(
      client().post("/api/v1/auth/login", {{"name", "Acme"}, {"password", "brand-new-pass"}}), 200);
}

TEST_F(ApiTest, ClientPinsTheCertificateAndRefusesAnother) {
  client::ClientOptions options;
  options.port = orchestrator_->port();
  options.pinnedThumbprint = "AA";
  for (int i = 1; i < 32; ++i) options.pinnedThumbprint += ":AA";
  client::ApiClient wrongPin(options);
  EXPECT_THROW(wrongPin.get("/api/v1/health"), client::PinMismatch);

  options.pinnedThumbprint.clear();  // first contact: learn what the server presents
  client::ApiClient learning(options);
  EXPECT_STATUS(learning.get("/api/v1/health"), 200);
  EXPECT_EQ(learning.serverThumbprint(), thumbprint_);
}

TEST_F(ApiTest, KeepAliveReusesOneConnection) {
  auto sp = admin();
  for (int i = 0; i < 20; ++i) EXPECT_STATUS(sp.get("/api/v1/health"), 200);
  EXPECT_EQ(sp.handshakes(), 1);
}

TEST_F(ApiTest, OldTlsVersionsAreRefused) {
  for (int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    client::ClientOptions options;
    options.port = orchestrator_->port();
    options.minTlsVersion = version;
    options.maxTlsVersion = version;
    client::ApiClient old(options);
    EXPECT_THROW(old.get("/api/v1/health"), client::ConnectionError)
        << "TLS version " << std::hex << version;
  }
  client::ClientOptions tls12;
  tls12.port = orchestrator_->port();
  tls12.maxTlsVersion = TLS1_2_VERSION;
  client::ApiClient modern(tls12);
  EXPECT_STATUS(modern.get("/api/v1/health"), 200);
}

TEST_F(ApiTest, PlaintextHttpGetsNoAnswer) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(orchestrator_->port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const std::string request = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  char buffer[256];
  const auto got = ::recv(fd, buffer, sizeof buffer, 0);
  ::close(fd);
  // The TLS layer drops the connection; no HTTP answer ever comes back.
  EXPECT_TRUE(got <= 0 || std::string(buffer, static_cast<std::size_t>(got)).find("HTTP/") ==
                              std::string::npos);
}

}  // namespace
}  // namespace warmsite::apitest
