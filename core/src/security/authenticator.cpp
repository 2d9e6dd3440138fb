#include "security/authenticator.h"

#include "security/encoding.h"

namespace warmsite::security {

std::int64_t nowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Authenticator::tokenHash(const std::string& token) {
  return hexEncode(sha256(token));
}

LoginResult Authenticator::login(const std::string& name, const std::string& password) {
  const auto now = nowUnix();
  auto found =
      store_.read([&](store::Transaction& tx) -> std::optional<std::pair<domain::Account, bool>> {
        auto account = tx.findAccountByName(name);
        if (!account) return std::nullopt;
        bool enabled = true;
        if (account->role == domain::Role::kTenant) {
          auto tenant = tx.findTenant(account->tenantId);
          enabled = tenant && tenant->enabled;
        }
        return std::make_pair(*account, enabled);
      });
  const AuthError badCredentials(AuthError::Kind::kBadCredentials, "wrong name or password");
  if (!found) {
    hasher_.verify(password, hasher_.hash("timing-equalizer"));  // an unknown name costs the same
    throw badCredentials;
  }
  auto& [account, enabled] = *found;
  if (account.lockedUntilUnix && *account.lockedUntilUnix > now) {
    throw AuthError(AuthError::Kind::kLocked,
                    "account " + account.name + " is locked after " +
                        std::to_string(account.failedLogins) + " failed logins; try again in " +
                        std::to_string(*account.lockedUntilUnix - now) + " s");
  }
  const bool passwordOk = hasher_.verify(password, account.passwordHash);
  return store_.write([&](store::Transaction& tx) -> LoginResult {
    auto current = tx.findAccount(account.id);
    if (!current) throw badCredentials;
    if (!passwordOk) {
      current->failedLogins += 1;
      if (current->failedLogins >= policy_.maxFailedLogins) {
        current->lockedUntilUnix = now + policy_.lockoutDuration.count();
      }
      tx.updateAccount(*current);
      tx.commit();
      throw badCredentials;
    }
    if (!enabled) {
      throw AuthError(AuthError::Kind::kDisabled,
                      "tenant account " + current->name + " is disabled");
    }
    current->failedLogins = 0;
    current->lockedUntilUnix.reset();
    tx.updateAccount(*current);
    // The token's life starts now, not before the (deliberately slow) password check.
    const auto issued = nowUnix();
    tx.deleteExpiredSessions(issued);
    LoginResult result;
    result.token = base64UrlEncode(randomBytes(32));
    result.expiresUnix = issued + policy_.tokenLifetime.count();
    result.account = *current;
    tx.insertSession({tokenHash(result.token), current->id, issued, result.expiresUnix});
    return result;
  });
}

std::optional<AuthenticatedSession> Authenticator::authenticate(const std::string& token) {
  if (token.empty() || token.size() > 128) return std::nullopt;
  const auto hash = tokenHash(token);
  return store_.read([&](store::Transaction& tx) -> std::optional<AuthenticatedSession> {
    auto session = tx.findSession(hash);
    if (!session || session->expiresUnix <= nowUnix()) return std::nullopt;
    auto account = tx.findAccount(session->accountId);
    if (!account) return std::nullopt;
    return AuthenticatedSession{*account, *session};
  });
}

void Authenticator::logout(const std::string& tokenHash) {
  store_.write([&](store::Transaction& tx) { tx.deleteSession(tokenHash); });
}

}  // namespace warmsite::security
