#include "render/answer_renderer.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

#include "render/answer_value.h"
#include "render/utc_time_text.h"

namespace whoisd {
namespace {

constexpr std::string_view kCrlf = "\r\n";

// Words that client libraries take to mean "domain not registered" when they find
// them in an answer (FORMAT.md): "no match" is Net::Whois::Raw's not-found text for
// .pt, matched in every answer, found ones included; the others are matched in short
// answers. Compared ignoring ASCII case.
constexpr std::array<std::string_view, 4> kMisleadingWords = {"no match", "error", "not found", "restricted"};

// Invalid-query reasons come from the query parser as fixed texts; this one
// replaces any that would break the rules above, so a future wording cannot.
constexpr std::string_view kFallbackReason = "unsupported query";
constexpr std::size_t kMaxReasonCodePoints = 120;
// Sources are addresses or prefixes ("2001:db8:1:2::/64"); bounded all the same.
constexpr std::size_t kMaxSourceCodePoints = 64;

// The first of kMisleadingWords that `text` holds, or "".
std::string_view misleading_word(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  for (const std::string_view word : kMisleadingWords)
    if (lower.find(word) != std::string::npos) return word;
  return {};
}

template <typename Integer>
void append_number(std::string& out, Integer value) {
  std::array<char, 24> buf{};
  const auto result = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  out.append(buf.data(), result.ptr);
}

// "Label: value" + CRLF, the value cleaned.
void append_field(std::string& out, std::string_view label, std::string_view value) {
  out.append(label);
  out.append(": ");
  append_published_value(out, value);
  out.append(kCrlf);
}

// A personal value of a contact: the value when the contact allows it, else the
// redaction text (an opted-out contact's values arrive empty in any case).
void append_personal(std::string& out, std::string_view label, bool disclosed, std::string_view value) {
  if (disclosed) {
    append_field(out, label, value);
  } else {
    out.append(label);
    out.append(": ");
    out.append(kNotDisclosed);
    out.append(kCrlf);
  }
}

void append_address_list(std::string& out, const std::vector<std::string>& addresses) {
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    if (i != 0) out.append(", ");
    append_answer_word(out, addresses[i]);
  }
}

// A configured header or footer line: cleaned, and marked as a comment.
std::string configured_line(std::string_view raw) {
  std::string line;
  const std::string value = answer_value(raw);
  if (value.empty()) {
    line = "%";
  } else if (value.front() == '%') {
    line = value;
  } else {
    line = "% " + value;
  }
  line.append(kCrlf);
  return line;
}

std::string window_wording(std::int64_t seconds) {
  std::string text;
  auto unit = [&](std::int64_t n, std::string_view singular) {
    append_number(text, n);
    text.push_back(' ');
    text.append(singular);
    if (n != 1) text.push_back('s');
  };
  if (seconds > 0 && seconds % 3600 == 0) {
    unit(seconds / 3600, "hour");
  } else if (seconds > 0 && seconds % 60 == 0) {
    unit(seconds / 60, "minute");
  } else {
    unit(std::max<std::int64_t>(seconds, 0), "second");
  }
  return text;
}

std::size_t field_bytes(const PublishedDomain& d) {
  std::size_t n = d.u_label.size() + d.a_label.size() + d.status.size();
  const PublishedRegistrant& r = d.registrant;
  n += r.name.size() + r.address.size() + r.locality.size() + r.zip_code.size() + r.zip_locality.size() +
       r.country_code.size() + r.email.size();
  n += d.admin.name.size() + d.admin.email.size() + d.tech.name.size() + d.tech.email.size();
  for (const PublishedNameServer& ns : d.name_servers) {
    n += 40 + ns.host.size();
    for (const std::string& a : ns.ipv4) n += a.size() + 2;
    for (const std::string& a : ns.ipv6) n += a.size() + 2;
  }
  for (const PublishedDsRecord& ds : d.ds_records) n += 40 + ds.digest_hex.size();
  return n;
}

}  // namespace

std::string configured_line_problem(std::string_view line) {
  // configured_line() cuts a line where it cuts a value: refuse it instead of serving it cut.
  const auto characters = static_cast<std::size_t>(
      std::count_if(line.begin(), line.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
  if (characters > kMaxValueCodePoints)
    return "is " + std::to_string(characters) + " characters long; an answer line holds at most " +
           std::to_string(kMaxValueCodePoints);
  const std::string_view word = misleading_word(line);
  if (word.empty()) return "";
  if (word == "no match")
    return "holds \"no match\", which Net::Whois::Raw takes for \"domain not registered\" in any answer";
  return "holds \"" + std::string(word) + "\", which client libraries take for \"domain not registered\"";
}

AnswerRenderer::AnswerRenderer(AnswerTexts texts) : window_text_(window_wording(texts.limit_window_seconds)) {
  for (const std::string& line : texts.header) header_block_ += configured_line(line);
  for (const std::string& line : texts.footer) {
    const std::string cleaned = configured_line(line);
    if (!misleading_word(cleaned).empty()) footer_fits_fixed_ = false;
    footer_block_ += cleaned;
  }
  footer_lines_ = texts.footer.size();
}

std::string AnswerRenderer::found(const PublishedDomain& d, bool below_registration) const {
  // Labels and line ends of a full answer with every contact field take ~330 bytes.
  std::string out;
  out.reserve(header_block_.size() + footer_block_.size() + field_bytes(d) + 512);
  out.append(header_block_);

  const std::string_view domain = d.u_label.empty() ? std::string_view(d.a_label) : std::string_view(d.u_label);
  if (below_registration) {
    out.append("% Answer for the registered domain ");
    append_answer_value(out, domain);
    out.append(kCrlf);
  }
  append_field(out, "Domain", domain);
  if (!d.u_label.empty() && d.u_label != d.a_label) append_field(out, "Domain ACE", d.a_label);
  append_field(out, "Domain Status", d.status);
  out.append("Creation Date: ");
  append_registry_time(out, d.created);
  out.append(kCrlf);
  out.append("Expiration Date: ");
  append_registry_time(out, d.expires);
  out.append(kCrlf);

  const PublishedRegistrant& owner = d.registrant;
  append_personal(out, "Owner Name", owner.disclosed, owner.name);
  append_personal(out, "Owner Address", owner.disclosed, owner.address);
  append_personal(out, "Owner Locality", owner.disclosed, owner.locality);
  append_personal(out, "Owner ZipCode", owner.disclosed, owner.zip_code);
  append_personal(out, "Owner Locality ZipCode", owner.disclosed, owner.zip_locality);
  append_personal(out, "Owner Country Code", owner.disclosed, owner.country_code);
  append_personal(out, "Owner Email", owner.disclosed, owner.email);
  append_personal(out, "Admin Name", d.admin.disclosed, d.admin.name);
  append_personal(out, "Admin Email", d.admin.disclosed, d.admin.email);
  append_personal(out, "Tech Name", d.tech.disclosed, d.tech.name);
  append_personal(out, "Tech Email", d.tech.disclosed, d.tech.email);

  for (const PublishedNameServer& ns : d.name_servers) {
    out.append("Name Server: ");
    append_answer_word(out, ns.host);
    out.append(" | IPv4: ");
    append_address_list(out, ns.ipv4);
    out.append(" and IPv6: ");
    append_address_list(out, ns.ipv6);
    out.append(kCrlf);
  }
  for (const PublishedDsRecord& ds : d.ds_records) {
    out.append("DS Record: ");
    append_number(out, ds.key_tag);
    out.push_back(' ');
    append_number(out, ds.algorithm);
    out.push_back(' ');
    append_number(out, ds.digest_type);
    out.push_back(' ');
    const std::size_t digest_at = out.size();
    append_answer_word(out, ds.digest_hex);
    std::transform(out.begin() + static_cast<std::ptrdiff_t>(digest_at), out.end(), out.begin() + static_cast<std::ptrdiff_t>(digest_at),
                   [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; });
    out.append(kCrlf);
  }

  out.append(footer_block_);
  return out;
}

std::string AnswerRenderer::finish_fixed(std::string answer, std::size_t lines) const {
  if (footer_lines_ != 0 && footer_fits_fixed_ && lines + footer_lines_ <= kFixedAnswerMaxLines) {
    answer.append(footer_block_);
  }
  return answer;
}

std::string AnswerRenderer::no_match(std::string_view domain) const {
  std::string out;
  out.reserve(domain.size() + 16 + footer_block_.size());
  append_answer_value(out, domain);
  out.append(" - no match");
  out.append(kCrlf);
  return finish_fixed(std::move(out), 1);
}

std::string AnswerRenderer::invalid(std::string_view reason) const {
  std::string cleaned = answer_value(reason, kMaxReasonCodePoints);
  if (cleaned.empty() || !misleading_word(cleaned).empty()) cleaned = kFallbackReason;
  std::string out;
  out.reserve(cleaned.size() + 20 + footer_block_.size());
  out.append("Invalid query: ");
  out.append(cleaned);
  out.append(kCrlf);
  return finish_fixed(std::move(out), 1);
}

std::string AnswerRenderer::help() const {
  std::string out =
      "% Send one .pt domain name and a line end, e.g. example.pt or açores.pt (xn--aores-yra.pt).\r\n"
      "% The answer shows the registration data the .pt policy publishes; dates are UTC.\r\n";
  return finish_fixed(std::move(out), 2);
}

std::string AnswerRenderer::limit_crossed(std::string_view source, std::uint32_t limit, std::int64_t until,
                                          std::uint32_t episode) const {
  std::string out;
  out.reserve(160 + footer_block_.size());
  out.append("Query limit exceeded: ");
  append_answer_value(out, source, kMaxSourceCodePoints);
  out.append(" made ");
  append_number(out, limit);
  out.append(" queries in ");
  out.append(window_text_);
  out.append("; suspended until ");
  append_iso_time(out, until);
  out.append(" (suspension ");
  append_number(out, episode);
  out.append(")");
  out.append(kCrlf);
  return finish_fixed(std::move(out), 1);
}

std::string AnswerRenderer::suspended(std::string_view source, std::int64_t until, std::uint32_t episode) const {
  std::string out;
  out.reserve(128 + footer_block_.size());
  out.append("Query limit exceeded: ");
  append_answer_value(out, source, kMaxSourceCodePoints);
  out.append(" is suspended until ");
  append_iso_time(out, until);
  out.append(" (suspension ");
  append_number(out, episode);
  out.append(")");
  out.append(kCrlf);
  return finish_fixed(std::move(out), 1);
}

std::string AnswerRenderer::too_many_connections(std::string_view source) const {
  std::string out;
  out.reserve(100 + footer_block_.size());
  out.append("Too many connections from ");
  append_answer_value(out, source, kMaxSourceCodePoints);
  out.append(kCrlf);
  return finish_fixed(std::move(out), 1);
}

}  // namespace whoisd
