#include <catch2/catch.hpp>

#include "policy/source_key.h"
#include "support/test_address.h"

using whoisd::IpAddress;
using whoisd::parse_source_key;
using whoisd::source_key;
using whoisd::test::ip;

namespace {
}  // namespace

TEST_CASE("an IPv4 address is its own source") {
  auto k = source_key(ip("192.0.2.1"), 64);
  CHECK(k.is_v4());
  CHECK(k.prefix == 32);
  CHECK(to_string(k) == "192.0.2.1");
  CHECK(source_key(ip("192.0.2.2"), 64) != k);
}

TEST_CASE("an IPv4-mapped IPv6 address is its IPv4 address") {
  CHECK(source_key(ip("::ffff:192.0.2.1"), 64) == source_key(ip("192.0.2.1"), 64));
  CHECK(to_string(source_key(ip("::ffff:192.0.2.1"), 48)) == "192.0.2.1");
}

TEST_CASE("IPv6 addresses are grouped by the configured prefix") {
  auto a = source_key(ip("2001:db8:1:2::1"), 64);
  CHECK_FALSE(a.is_v4());
  CHECK(a.prefix == 64);
  CHECK(to_string(a) == "2001:db8:1:2::/64");
  CHECK(source_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 64) == a);
  CHECK(source_key(ip("2001:db8:1:3::1"), 64) != a);

  auto b = source_key(ip("2001:db8:1:2::1"), 56);
  CHECK(to_string(b) == "2001:db8:1::/56");
  CHECK(source_key(ip("2001:db8:1:ff::1"), 56) == b);
  CHECK(source_key(ip("2001:db8:1:100::1"), 56) != b);
}

TEST_CASE("operators name sources as addresses or networks") {
  std::string error;
  CHECK(parse_source_key("192.0.2.1", 64, &error) == source_key(ip("192.0.2.1"), 64));
  CHECK(parse_source_key("192.0.2.1/32", 64, &error) == source_key(ip("192.0.2.1"), 64));
  CHECK(parse_source_key("::ffff:192.0.2.1", 64, &error) == source_key(ip("192.0.2.1"), 64));
  CHECK(parse_source_key("2001:db8:1:2::/64", 64, &error) == source_key(ip("2001:db8:1:2::"), 64));
  CHECK(parse_source_key("2001:db8:1:2::77", 64, &error) == source_key(ip("2001:db8:1:2::"), 64));

  CHECK_FALSE(parse_source_key("2001:db8:1:2::/48", 64, &error));
  CHECK(error.find("2001:db8:1:2::/48") != std::string::npos);
  CHECK(error.find("/64") != std::string::npos);
  CHECK_FALSE(parse_source_key("192.0.2.0/24", 64, &error));
  CHECK(error.find("/32") != std::string::npos);
  CHECK_FALSE(parse_source_key("example.pt", 64, &error));
  CHECK(error.find("example.pt") != std::string::npos);
  CHECK_FALSE(parse_source_key("192.0.2.1/x", 64, &error));
  CHECK_FALSE(parse_source_key("", 64, &error));
}
