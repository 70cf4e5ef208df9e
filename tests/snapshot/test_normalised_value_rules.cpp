// The rules on published values that schema.sql promises and SQLite cannot keep
// (normalised_value_rules.h): registered domain names, host names (their A-labels too),
// glue addresses, DS digests.
#include <catch2/catch.hpp>

#include <string>

#include "snapshot/normalised_value_rules.h"

using whoisd::canonical_glue_address;
using whoisd::ds_digest_problem;
using whoisd::host_name_problem;
using whoisd::registered_domain_problem;

TEST_CASE("registered domains: a query for the a_label finds that very registration, and gives its Unicode form") {
  std::string unicode_form;
  CHECK(registered_domain_problem("exemplo.pt", unicode_form) == "");
  CHECK(unicode_form == "exemplo.pt");
  CHECK(registered_domain_problem("xn--aores-yra.pt", unicode_form) == "");
  CHECK(unicode_form == "açores.pt");
  CHECK(registered_domain_problem("xn--so-joo-3tae.org.pt", unicode_form) == "");
  CHECK(unicode_form == "são-joão.org.pt");
  // An 'xn--' label that does not decode, or not to a valid U-label (UTS #46, whoisd's options).
  CHECK(registered_domain_problem("xn--abc.pt", unicode_form) == "a query for it is refused (malformed IDN (punycode))");
  CHECK(registered_domain_problem("xn--ab-ivd.pt", unicode_form) ==
        "a query for it is refused (invalid right-to-left label)");
  CHECK(registered_domain_problem("net.pt", unicode_form) == "a query for it is refused (hierarchy name, not a domain)");
  CHECK(registered_domain_problem("www.exemplo.pt", unicode_form) ==
        "a query for it is taken for the registered domain 'exemplo.pt'");
  CHECK(registered_domain_problem("help", unicode_form) == "a query for it is the help query, not a lookup");
}

TEST_CASE("host names: lower-case LDH A-labels, 1-63 octets a label, no trailing dot, at most 253") {
  for (const char* good : {"ns1.example.pt", "a.dns.example.com", "ns1.xn--aores-yra.pt", "localhost", "a", "1-2.3"}) {
    INFO(good);
    CHECK(host_name_problem(good) == "");
  }
  const std::string label63(63, 'a');
  CHECK(host_name_problem(label63 + ".pt") == "");
  CHECK(host_name_problem(label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b')) == "");  // 253

  CHECK_THAT(host_name_problem("ns1.a.pt\xC2\xA0" "evil.pt"), Catch::Contains("byte 0xc2 at offset 8"));
  CHECK_THAT(host_name_problem("ns1.a.pt evil.pt"), Catch::Contains("byte 0x20 at offset 8"));
  CHECK_THAT(host_name_problem(std::string("ns1.a.pt\0x", 10)), Catch::Contains("byte 0x00 at offset 8"));
  CHECK_THAT(host_name_problem("ns1.a.pt\r\nDomain: x.pt"), Catch::Contains("byte 0x0d"));
  CHECK_THAT(host_name_problem("ns_1.a.pt"), Catch::Contains("byte 0x5f"));
  CHECK_THAT(host_name_problem("NS1.a.pt"), Catch::Contains("upper case ('N' at offset 0)"));
  CHECK_THAT(host_name_problem("ns1.a.pt."), Catch::Contains("ends in a dot"));
  CHECK_THAT(host_name_problem("."), Catch::Contains("ends in a dot"));
  CHECK_THAT(host_name_problem("ns1..a.pt"), Catch::Contains("empty label"));
  CHECK_THAT(host_name_problem(".ns1.a.pt"), Catch::Contains("empty label"));
  CHECK_THAT(host_name_problem("ns1." + std::string(64, 'x') + ".pt"), Catch::Contains("64 octets long, at most 63"));
  CHECK_THAT(host_name_problem(label63 + "." + label63 + "." + label63 + "." + std::string(62, 'b')),
             Catch::Contains("254 octets long, at most 253"));
  CHECK_THAT(host_name_problem("-ns1.a.pt"), Catch::Contains("label '-ns1' begins or ends with a hyphen"));
  CHECK_THAT(host_name_problem("ns1-.a.pt"), Catch::Contains("label 'ns1-'"));
  CHECK_THAT(host_name_problem("ns1.açores.pt"), Catch::Contains("byte 0xc3"));  // a U-label, not an A-label
  CHECK_THAT(host_name_problem(""), Catch::Contains("empty"));
}

TEST_CASE("host names: a label beginning 'xn--' is the A-label of a valid U-label") {
  for (const char* good : {"ns1.xn--aores-yra.pt", "xn--e1afmkfd.xn--p1ai", "ns.xn--mgbh0fb.example",
                           "ns1.xn--fa-hia.de", "ab--cd.example.pt", "xn-a.example.pt"}) {
    INFO(good);
    CHECK(host_name_problem(good) == "");
  }
  CHECK_THAT(host_name_problem("ns1.xn--abc.pt"), Catch::Contains("its label 'xn--abc' is not a valid A-label: it "
                                                                  "does not decode to a valid U-label"));
  // Not NFC: 'a' and U+0301, whose A-label is that of 'á' (xn--1ca).
  CHECK_THAT(host_name_problem("ns1.xn--a-xbb.pt"), Catch::Contains("label 'xn--a-xbb' is not a valid A-label"));
  // 'aÇores': its U-label would be lower case (UTS #46 maps Ç to ç).
  CHECK_THAT(host_name_problem("ns1.xn--aores-hma.pt"), Catch::Contains("label 'xn--aores-hma' is not a valid A-label"));
  CHECK_THAT(host_name_problem("ns1.xn--0ug.pt"), Catch::Contains("label 'xn--0ug'") &&
                                                      Catch::Contains("zero width joiner or non-joiner"));
  CHECK_THAT(host_name_problem("ns1.xn--ab-ivd.pt"), Catch::Contains("label 'xn--ab-ivd'") &&
                                                         Catch::Contains("Bidi rule for right-to-left text"));
  CHECK_THAT(host_name_problem("ns1.xn---abc-0ra.pt"), Catch::Contains("label 'xn---abc-0ra'") &&
                                                           Catch::Contains("Unicode form begins with a hyphen"));
  CHECK_THAT(host_name_problem("ns1.xn--xn--a-2ra.pt"), Catch::Contains("label 'xn--xn--a-2ra'") &&
                                                            Catch::Contains("hyphens in the third and fourth places"));
  // 'xn--' alone ends in a hyphen, which the LDH rule names first.
  CHECK_THAT(host_name_problem("ns1.xn--.pt"), Catch::Contains("label 'xn--' begins or ends with a hyphen"));
}

TEST_CASE("glue addresses: an address of the row's family, in canonical text") {
  CHECK(canonical_glue_address(4, "192.0.2.1") == "192.0.2.1");
  CHECK(canonical_glue_address(6, "2001:db8::1") == "2001:db8::1");
  // Other spellings of an IPv6 address are published in RFC 5952 text.
  CHECK(canonical_glue_address(6, "2001:DB8::1") == "2001:db8::1");
  CHECK(canonical_glue_address(6, "2001:0db8:0000:0000:0000:0000:0000:0001") == "2001:db8::1");
  CHECK(canonical_glue_address(6, "2001:db8:0:0:1:0:0:1") == "2001:db8::1:0:0:1");  // first longest run
  CHECK(canonical_glue_address(6, "2001:db8:0:1:1:1:1:1") == "2001:db8:0:1:1:1:1:1");  // one zero group stays
  CHECK(canonical_glue_address(6, "2001:db8:40:0:1::2") == "2001:db8:40:0:1::2");

  for (const char* bad : {"192.0.2.256", "192.0.2", "192.0.2.1.5", "192.0.2.01", "0x7f.0.0.1", " 192.0.2.1",
                          "192.0.2.1 ", "192.0.2.1\r\nDomain: x.pt", "", "2001:db8::1", "ns1.example.pt"}) {
    INFO("IPv4 '" << bad << "'");
    CHECK_FALSE(canonical_glue_address(4, bad));
  }
  for (const char* bad : {"2001:db8::g", "2001:db8:::1", "2001:db8::1::2", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0",
                          "2001:db8::1/64", "[2001:db8::1]", "", "192.0.2.1"}) {
    INFO("IPv6 '" << bad << "'");
    CHECK_FALSE(canonical_glue_address(6, bad));
  }
  // A NUL would end the C string inet_pton reads, hiding what follows it.
  CHECK_FALSE(canonical_glue_address(4, std::string("192.0.2.1\0evil.pt", 17)));
  CHECK_FALSE(canonical_glue_address(6, std::string("2001:db8::1\0x", 13)));
  CHECK_FALSE(canonical_glue_address(5, "192.0.2.1"));
}

TEST_CASE("DS digests: hexadecimal of even length") {
  // Digest type 0 (reserved): no length of its own, so only the rule every digest has.
  CHECK(ds_digest_problem(0, "0123456789abcdefABCDEF00") == "");
  CHECK_THAT(ds_digest_problem(0, "ABC"), Catch::Contains("3 hexadecimal digits, an odd number"));
  CHECK_THAT(ds_digest_problem(0, "ABCG"), Catch::Contains("byte 0x47 at offset 3 is not a hexadecimal digit"));
  CHECK_THAT(ds_digest_problem(0, std::string("AB\0CD", 5)), Catch::Contains("byte 0x00 at offset 2"));
  CHECK_THAT(ds_digest_problem(0, "AB CD"), Catch::Contains("byte 0x20"));
  CHECK_THAT(ds_digest_problem(0, ""), Catch::Contains("empty"));
  // Hex comes first: a digest of type 2 with a bad byte is named for the byte.
  CHECK_THAT(ds_digest_problem(2, "ABCG"), Catch::Contains("byte 0x47"));
}

TEST_CASE("DS digests: as many octets as digest types 1-6 have, any number for other types") {
  const auto hex = [](std::size_t octets) { return std::string(octets * 2, 'a'); };
  CHECK(ds_digest_problem(1, hex(20)) == "");
  CHECK(ds_digest_problem(2, hex(32)) == "");
  CHECK(ds_digest_problem(3, hex(32)) == "");
  CHECK(ds_digest_problem(4, hex(48)) == "");
  CHECK(ds_digest_problem(1, hex(32)) == "digest type 1 (SHA-1) is 20 octets, this one 32 (64 hexadecimal digits)");
  CHECK(ds_digest_problem(2, hex(20)) == "digest type 2 (SHA-256) is 32 octets, this one 20 (40 hexadecimal digits)");
  CHECK(ds_digest_problem(2, hex(48)) == "digest type 2 (SHA-256) is 32 octets, this one 48 (96 hexadecimal digits)");
  CHECK(ds_digest_problem(3, hex(31)) ==
        "digest type 3 (GOST R 34.11-94) is 32 octets, this one 31 (62 hexadecimal digits)");
  CHECK(ds_digest_problem(4, hex(32)) == "digest type 4 (SHA-384) is 48 octets, this one 32 (64 hexadecimal digits)");
  // RFC 9558 (GOST R 34.11-2012) and RFC 9563 (SM3): 256-bit hashes, 32 octets.
  CHECK(ds_digest_problem(5, hex(32)) == "");
  CHECK(ds_digest_problem(6, hex(32)) == "");
  CHECK(ds_digest_problem(5, hex(64)) ==
        "digest type 5 (GOST R 34.11-2012) is 32 octets, this one 64 (128 hexadecimal digits)");
  CHECK(ds_digest_problem(5, hex(20)) ==
        "digest type 5 (GOST R 34.11-2012) is 32 octets, this one 20 (40 hexadecimal digits)");
  CHECK(ds_digest_problem(6, hex(1)) == "digest type 6 (SM3) is 32 octets, this one 1 (2 hexadecimal digits)");
  CHECK(ds_digest_problem(6, hex(48)) == "digest type 6 (SM3) is 32 octets, this one 48 (96 hexadecimal digits)");
  for (std::uint32_t type : {0u, 7u, 200u, 255u}) {
    INFO(type);
    CHECK(ds_digest_problem(type, hex(1)) == "");
    CHECK(ds_digest_problem(type, hex(20)) == "");
    CHECK(ds_digest_problem(type, hex(64)) == "");
  }
}
