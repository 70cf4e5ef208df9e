#include "snapshot/published_record.h"

#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

namespace whoisd {

namespace {

constexpr unsigned char kRegistrantDisclosed = 1;
constexpr unsigned char kAdminDisclosed = 2;
constexpr unsigned char kTechDisclosed = 4;

class Writer {
 public:
  void byte(unsigned char b) { out_.push_back(static_cast<char>(b)); }
  void uint(std::uint64_t v) {
    while (v >= 0x80) {
      byte(static_cast<unsigned char>(v | 0x80));
      v >>= 7;
    }
    byte(static_cast<unsigned char>(v));
  }
  void sint(std::int64_t v) {
    uint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  void str(std::string_view s) {
    uint(s.size());
    out_.append(s);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  unsigned char byte(const char* field) {
    if (pos_ >= in_.size()) throw PublishedRecordError(std::string("the record ends before ") + field);
    return static_cast<unsigned char>(in_[pos_++]);
  }
  std::uint64_t uint(const char* field) {
    // Most varints of a record (lengths, counts, flags) are one byte.
    if (pos_ < in_.size() && static_cast<unsigned char>(in_[pos_]) < 0x80) {
      return static_cast<unsigned char>(in_[pos_++]);
    }
    return uint_of_bytes(field);
  }
  std::uint64_t uint_of_bytes(const char* field) {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      unsigned char b = byte(field);
      if (shift == 63 && b > 1) throw PublishedRecordError(std::string(field) + ": varint overflows 64 bits");
      v |= std::uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) {
        if (b == 0 && shift > 0) throw PublishedRecordError(std::string(field) + ": varint with a superfluous zero byte");
        return v;
      }
    }
    throw PublishedRecordError(std::string(field) + ": varint longer than 10 bytes");
  }
  std::uint64_t uint_at_most(const char* field, std::uint64_t max) {
    std::uint64_t v = uint(field);
    if (v > max) {
      throw PublishedRecordError(std::string(field) + " is " + std::to_string(v) + ", at most " + std::to_string(max));
    }
    return v;
  }
  std::int64_t sint(const char* field) {
    std::uint64_t v = uint(field);
    return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  // A length-prefixed string, into out (its capacity reused).
  void str(const char* field, std::string& out) {
    std::uint64_t length = uint(field);
    if (length > left()) {
      throw PublishedRecordError(std::string("the string ") + field + " is " + std::to_string(length) +
                                 " bytes long, " + std::to_string(left()) + " are left");
    }
    out.clear();  // then append: cheaper than assign's general replace, and the capacity stays
    out.append(in_.data() + pos_, static_cast<std::size_t>(length));
    pos_ += static_cast<std::size_t>(length);
  }
  // A count of items that take at least one byte each: never more than the bytes left,
  // so that a forged count cannot make the caller reserve or loop beyond the record.
  std::size_t count(const char* field) { return static_cast<std::size_t>(uint_at_most(field, left())); }
  std::size_t left() const { return in_.size() - pos_; }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

void require_blank(bool disclosed, std::initializer_list<const std::string*> values, const char* who) {
  if (disclosed) return;
  for (const std::string* v : values) {
    if (!v->empty()) throw PublishedRecordError(std::string(who) + " is not disclosed but has values");
  }
}

// Resizes v to n items without freeing what its items hold: the items past n move to
// `spare`, and new items come from there before any is made. A record with fewer name
// servers (or glue addresses, or DS records) than the previous one on this thread would
// otherwise free theirs, and the next larger one allocate them again (about 1.5
// allocations a found answer with the benchmark's mix). The caller assigns every field
// of every item it keeps: an item from `spare` holds a value of an earlier record.
template <typename T>
void resize_keeping_buffers(std::vector<T>& v, std::size_t n, std::vector<T>& spare) {
  while (v.size() > n) {
    spare.push_back(std::move(v.back()));
    v.pop_back();
  }
  while (v.size() < n) {
    if (spare.empty()) {
      v.emplace_back();
    } else {
      v.push_back(std::move(spare.back()));
      spare.pop_back();
    }
  }
}

// The spare items of this thread's decodes (resize_keeping_buffers). Far more than a
// real record needs, and few enough that a thread keeps little after an odd large one.
constexpr std::size_t kMaxSpareItems = 64;

struct SpareItems {
  std::vector<PublishedNameServer> name_servers;
  std::vector<std::string> addresses;
  std::vector<PublishedDsRecord> ds_records;

  void trim() {
    trim(name_servers);
    trim(addresses);
    trim(ds_records);
  }
  template <typename T>
  static void trim(std::vector<T>& spare) {
    if (spare.size() <= kMaxSpareItems) return;
    spare.resize(kMaxSpareItems);
    spare.shrink_to_fit();
  }
};
thread_local SpareItems spare_items;

bool is_upper_hex(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

}  // namespace

std::string encode_published_record(const PublishedDomain& d) {
  const auto& r = d.registrant;
  require_blank(r.disclosed, {&r.name, &r.address, &r.locality, &r.zip_code, &r.zip_locality, &r.country_code,
                              &r.email}, "the registrant");
  require_blank(d.admin.disclosed, {&d.admin.name, &d.admin.email}, "the managing entity");
  require_blank(d.tech.disclosed, {&d.tech.name, &d.tech.email}, "the technical contact");
  Writer w;
  w.byte(kPublishedRecordVersion);
  w.str(d.u_label);
  w.str(d.status);
  w.sint(d.created);
  w.sint(d.expires);
  w.byte(static_cast<unsigned char>((r.disclosed ? kRegistrantDisclosed : 0) |
                                    (d.admin.disclosed ? kAdminDisclosed : 0) |
                                    (d.tech.disclosed ? kTechDisclosed : 0)));
  if (r.disclosed) {
    for (const std::string* v : {&r.name, &r.address, &r.locality, &r.zip_code, &r.zip_locality, &r.country_code,
                                 &r.email}) {
      w.str(*v);
    }
  }
  for (const PublishedNamedContact* c : {&d.admin, &d.tech}) {
    if (!c->disclosed) continue;
    w.str(c->name);
    w.str(c->email);
  }
  w.uint(d.name_servers.size());
  for (const auto& ns : d.name_servers) {
    w.str(ns.host);
    for (const auto* family : {&ns.ipv4, &ns.ipv6}) {
      w.uint(family->size());
      for (const auto& address : *family) w.str(address);
    }
  }
  w.uint(d.ds_records.size());
  for (const auto& ds : d.ds_records) {
    if (ds.key_tag > 65535 || ds.algorithm > 255 || ds.digest_type > 255 || !is_upper_hex(ds.digest_hex)) {
      throw PublishedRecordError("a DS record out of range (key tag " + std::to_string(ds.key_tag) + ", algorithm " +
                                 std::to_string(ds.algorithm) + ", digest type " + std::to_string(ds.digest_type) +
                                 ", digest '" + ds.digest_hex.substr(0, 100) + "')");
    }
    w.uint(ds.key_tag);
    w.uint(ds.algorithm);
    w.uint(ds.digest_type);
    w.str(ds.digest_hex);
  }
  std::string record = w.take();
  if (record.size() > kMaxPublishedRecordBytes)
    throw PublishedRecordError("its published data takes " + std::to_string(record.size()) + " bytes, more than the " +
                               std::to_string(kMaxPublishedRecordBytes) + " a record may (" +
                               std::to_string(d.name_servers.size()) + " name servers, " +
                               std::to_string(d.ds_records.size()) + " DS records)");
  return record;
}

void decode_published_record(std::string_view a_label, std::string_view record, PublishedDomain& d) {
  Reader in(record);
  if (record.empty()) throw PublishedRecordError("the record is empty");
  if (record.size() > kMaxPublishedRecordBytes)
    throw PublishedRecordError("the record is " + std::to_string(record.size()) + " bytes long, more than the " +
                               std::to_string(kMaxPublishedRecordBytes) + " a record may be");
  const unsigned version = in.byte("the format version");
  if (version != kPublishedRecordVersion) {
    throw PublishedRecordError("record format version " + std::to_string(version) + ", this whoisd reads version " +
                               std::to_string(kPublishedRecordVersion));
  }
  // Every field of d is assigned below (a reused d must not keep a value of the domain
  // it held before), into strings that keep their capacity.
  d.a_label.assign(a_label);
  in.str("u_label", d.u_label);
  in.str("status", d.status);
  d.created = in.sint("created");
  d.expires = in.sint("expires");
  const unsigned flags = in.byte("the disclosure flags");
  if ((flags & ~7u) != 0) throw PublishedRecordError("disclosure flags " + std::to_string(flags) + ": unknown bits set");
  auto& r = d.registrant;
  r.disclosed = (flags & kRegistrantDisclosed) != 0;
  d.admin.disclosed = (flags & kAdminDisclosed) != 0;
  d.tech.disclosed = (flags & kTechDisclosed) != 0;
  if (r.disclosed) {
    in.str("registrant.name", r.name);
    in.str("registrant.address", r.address);
    in.str("registrant.locality", r.locality);
    in.str("registrant.zip_code", r.zip_code);
    in.str("registrant.zip_locality", r.zip_locality);
    in.str("registrant.country_code", r.country_code);
    in.str("registrant.email", r.email);
  } else {
    for (std::string* v : {&r.name, &r.address, &r.locality, &r.zip_code, &r.zip_locality, &r.country_code, &r.email})
      v->clear();
  }
  for (auto [c, name, email] : {std::tuple{&d.admin, "admin.name", "admin.email"},
                                std::tuple{&d.tech, "tech.name", "tech.email"}}) {
    if (c->disclosed) {
      in.str(name, c->name);
      in.str(email, c->email);
    } else {
      c->name.clear();
      c->email.clear();
    }
  }
  SpareItems& spare = spare_items;
  auto strings = [&](std::vector<std::string>& out, const char* count_field, const char* field) {
    resize_keeping_buffers(out, in.count(count_field), spare.addresses);
    for (std::string& s : out) in.str(field, s);
  };
  resize_keeping_buffers(d.name_servers, in.count("the number of name servers"), spare.name_servers);
  for (PublishedNameServer& ns : d.name_servers) {
    in.str("name_servers.host", ns.host);
    strings(ns.ipv4, "the number of IPv4 glue addresses", "name_servers.ipv4");
    strings(ns.ipv6, "the number of IPv6 glue addresses", "name_servers.ipv6");
  }
  resize_keeping_buffers(d.ds_records, in.count("the number of DS records"), spare.ds_records);
  for (PublishedDsRecord& ds : d.ds_records) {
    ds.key_tag = static_cast<std::uint32_t>(in.uint_at_most("ds_records.key_tag", 65535));
    ds.algorithm = static_cast<std::uint32_t>(in.uint_at_most("ds_records.algorithm", 255));
    ds.digest_type = static_cast<std::uint32_t>(in.uint_at_most("ds_records.digest_type", 255));
    in.str("ds_records.digest", ds.digest_hex);
    if (!is_upper_hex(ds.digest_hex)) throw PublishedRecordError("a DS digest that is not upper-case hexadecimal");
  }
  spare.trim();
  if (in.left() != 0) {
    throw PublishedRecordError(std::to_string(in.left()) + " bytes after the last field");
  }
}

PublishedDomain decode_published_record(std::string_view a_label, std::string_view record) {
  PublishedDomain d;
  decode_published_record(a_label, record, d);
  return d;
}

std::string first_difference(const PublishedDomain& a, const PublishedDomain& b) {
  auto contact = [](const PublishedNamedContact& x, const PublishedNamedContact& y) -> const char* {
    if (x.disclosed != y.disclosed) return "disclosed";
    if (x.name != y.name) return "name";
    if (x.email != y.email) return "email";
    return nullptr;
  };
  if (a.a_label != b.a_label) return "a_label";
  if (a.u_label != b.u_label) return "u_label";
  if (a.status != b.status) return "status";
  if (a.created != b.created) return "created";
  if (a.expires != b.expires) return "expires";
  if (!(a.registrant == b.registrant)) return "registrant";
  if (const char* f = contact(a.admin, b.admin)) return std::string("admin.") + f;
  if (const char* f = contact(a.tech, b.tech)) return std::string("tech.") + f;
  if (a.name_servers.size() != b.name_servers.size()) return "the number of name servers";
  for (std::size_t i = 0; i < a.name_servers.size(); ++i) {
    if (!(a.name_servers[i] == b.name_servers[i])) return "name_servers[" + std::to_string(i) + "]";
  }
  if (a.ds_records.size() != b.ds_records.size()) return "the number of DS records";
  for (std::size_t i = 0; i < a.ds_records.size(); ++i) {
    if (!(a.ds_records[i] == b.ds_records[i])) return "ds_records[" + std::to_string(i) + "]";
  }
  return "";
}

}  // namespace whoisd
