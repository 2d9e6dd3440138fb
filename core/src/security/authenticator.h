#pragma once
// Logins and bearer tokens. A token is 32 random bytes (base64url); only its SHA-256 is stored,
// so a copy of the database does not let anyone in. Repeated failed logins lock the account for
// a while; a disabled tenant cannot log in, and disabling it ends its sessions.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "domain/entities.h"
#include "security/password_hasher.h"
#include "store/store.h"

namespace warmsite::security {

struct AuthPolicy {
  std::chrono::seconds tokenLifetime{12 * 3600};
  std::uint32_t maxFailedLogins = 5;
  std::chrono::seconds lockoutDuration{15 * 60};
};

class AuthError : public std::runtime_error {
 public:
  enum class Kind { kBadCredentials, kLocked, kDisabled };
  AuthError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

struct LoginResult {
  std::string token;
  std::int64_t expiresUnix = 0;
  domain::Account account;
};

struct AuthenticatedSession {
  domain::Account account;
  domain::Session session;
};

class Authenticator {
 public:
  Authenticator(store::Store& store, PasswordHasher hasher, AuthPolicy policy)
      : store_(store), hasher_(std::move(hasher)), policy_(policy) {}

  // Throws AuthError. The same message answers an unknown name and a wrong password.
  LoginResult login(const std::string& name, const std::string& password);
  // nullopt: unknown, revoked or expired token.
  std::optional<AuthenticatedSession> authenticate(const std::string& token);
  void logout(const std::string& tokenHash);

  std::string hashPassword(const std::string& password) const { return hasher_.hash(password); }
  static std::string tokenHash(const std::string& token);
  const AuthPolicy& policy() const noexcept { return policy_; }

 private:
  store::Store& store_;
  PasswordHasher hasher_;
  AuthPolicy policy_;
};

std::int64_t nowUnix();

}  // namespace warmsite::security
