// Unit tests of the security building blocks: users (Argon2id hashes, roles, the file format) and
// the cluster secret's challenge-response proofs. The end-to-end checks with real processes are
// tests/security/security_test.sh.
#include <gtest/gtest.h>

#include "base/limits.h"
#include "rpc/cluster_secret.h"
#include "rpc/users.h"

namespace causeway::rpc {
namespace {

TEST(Users, AddThenAuthenticateGivesTheRoleAndTheFileHoldsNoPassword) {
  Users users = *Users::Parse("", "test");
  ASSERT_TRUE(users.Add("app", Role::kWrite, "s3cret-pass").ok());
  std::string text = users.Serialize();
  EXPECT_EQ(text.find("s3cret-pass"), std::string::npos);
  auto reloaded = Users::Parse(text, "test");
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  auto role = reloaded->Authenticate("app", "s3cret-pass");
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(*role, Role::kWrite);
  EXPECT_FALSE(reloaded->Authenticate("app", "wrong").ok());
  EXPECT_FALSE(reloaded->Authenticate("nobody", "s3cret-pass").ok());
}

TEST(Users, RejectsMalformedFiles) {
  EXPECT_FALSE(Users::Parse("app write plaintext\n", "t").ok());         // not an Argon2id hash
  EXPECT_FALSE(Users::Parse("app root $argon2id$x\n", "t").ok());        // unknown role
  EXPECT_FALSE(Users::Parse("bad name write $argon2id$x\n", "t").ok());  // shape
  EXPECT_TRUE(Users::Parse("# comment\n\n", "t").ok());
}

TEST(Users, RolesNest) {
  EXPECT_TRUE(RoleAllows(Role::kAdmin, Role::kWrite));
  EXPECT_TRUE(RoleAllows(Role::kWrite, Role::kRead));
  EXPECT_FALSE(RoleAllows(Role::kRead, Role::kWrite));
  EXPECT_FALSE(RoleAllows(Role::kWrite, Role::kAdmin));
  EXPECT_FALSE(RoleAllows(Role::kNone, Role::kRead));
}

TEST(ClusterSecret, ProofChecksOnlyWithTheSameSecretNoncesIdAndDirection) {
  auto a = ClusterSecret::Parse("0123456789abcdef0123\n", "a");
  auto b = ClusterSecret::Parse("another-secret-of-16+\n", "b");
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string s = ClusterSecret::NewNonce(), c = ClusterSecret::NewNonce();
  ASSERT_EQ(s.size(), kPeerAuthNonceBytes);
  EXPECT_NE(s, c);
  using D = ClusterSecret::Direction;
  const std::string proof = a->Proof(0, D::kClientToServer, 42, s, c);
  EXPECT_EQ(a->Verify(proof, D::kClientToServer, 42, s, c), 0);
  EXPECT_LT(b->Verify(proof, D::kClientToServer, 42, s, c), 0);  // wrong secret
  EXPECT_LT(a->Verify(proof, D::kServerToClient, 42, s, c), 0);  // reflected
  EXPECT_LT(a->Verify(proof, D::kClientToServer, 43, s, c), 0);  // another node id
  EXPECT_LT(a->Verify(proof, D::kClientToServer, 42, ClusterSecret::NewNonce(), c), 0);  // replay
  EXPECT_LT(a->Verify(proof.substr(1), D::kClientToServer, 42, s, c), 0);
}

TEST(ClusterSecret, RotationAcceptsAnyLineAndProvesWithTheFirst) {
  auto old_only = ClusterSecret::Parse("old-secret-0123456789\n", "o");
  auto both = ClusterSecret::Parse("new-secret-0123456789\nold-secret-0123456789\n", "b");
  ASSERT_TRUE(old_only.ok() && both.ok());
  using D = ClusterSecret::Direction;
  const std::string s = ClusterSecret::NewNonce(), c = ClusterSecret::NewNonce();
  EXPECT_EQ(
      both->Verify(old_only->Proof(0, D::kClientToServer, 7, s, c), D::kClientToServer, 7, s, c),
      1);
  EXPECT_LT(
      old_only->Verify(both->Proof(0, D::kClientToServer, 7, s, c), D::kClientToServer, 7, s, c),
      0);
}

TEST(ClusterSecret, RejectsShortOrEmptySecrets) {
  EXPECT_FALSE(ClusterSecret::Parse("short\n", "t").ok());
  EXPECT_FALSE(ClusterSecret::Parse("# only a comment\n", "t").ok());
}

}  // namespace
}  // namespace causeway::rpc
