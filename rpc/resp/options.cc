#include "rpc/resp/options.h"

#include <algorithm>

namespace causeway::rpc::resp {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

Authenticator PasswordAuthenticator(std::string password) {
  return [password = std::move(password)](
             const std::string& user, const std::string& given) -> kj::Promise<Result<Identity>> {
    // Both checks always run: which one failed is not observable in the time taken.
    const bool user_ok = user.empty() || user == "default";
    const bool password_ok = ConstantTimeEquals(given, password);
    if (!user_ok || !password_ok) {
      return Result<Identity>(
          Status::InvalidArgument("invalid username-password pair or user is disabled."));
    }
    return Result<Identity>(Identity{"default", Role::kAdmin});
  };
}

}  // namespace causeway::rpc::resp
