// The record of published_domains (schema.sql, "published_domains"): a PublishedDomain
// in a compact binary encoding, so that a lookup is one B-tree search and one decode.
// The encoding is documented field by field in lib/snapshot/schema.sql. A record comes
// from a file, so the decoder treats it as hostile: every length and count is checked
// against the bytes left, every value against its range, and anything wrong is a
// PublishedRecordError saying what, never a read out of bounds.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include "snapshot/published_domain.h"

namespace whoisd {

inline constexpr unsigned char kPublishedRecordVersion = 1;

// The largest record: a domain's published data takes about 1 KB, and 64 KiB holds
// hundreds of name servers. A larger one is refused when built and when read, which
// bounds what a decode allocates (a forged count of items is at most one per byte left,
// and an item takes up to ~80 bytes of memory: ~5 MB) and how long an answer can be.
inline constexpr std::size_t kMaxPublishedRecordBytes = 64 * 1024;

// What is wrong with a record, e.g. "the string u_label is 300 bytes long, 12 are left".
// The store adds the file and the domain.
struct PublishedRecordError : std::runtime_error {
  using runtime_error::runtime_error;
};

// The record of d (d.a_label is the row's key and not part of it). A contact that is not
// disclosed must have no values (the normalised reader blanks them): anything else is
// a PublishedRecordError, as are out-of-range DS numbers.
std::string encode_published_record(const PublishedDomain& d);

// The PublishedDomain of a record; a_label is the key it was found under. Throws
// PublishedRecordError.
PublishedDomain decode_published_record(std::string_view a_label, std::string_view record);
// The same into d, every field assigned, its strings and vectors reusing their capacity
// (the server decodes into one PublishedDomain per thread: no allocation per lookup
// once the thread has decoded a large record; list items d no longer needs are kept
// for the next record in a spare pool of the calling thread). When it throws, d holds a
// mix of fields: use none.
void decode_published_record(std::string_view a_label, std::string_view record, PublishedDomain& d);

// The first field in which a and b differ ("registrant.email", "name_servers[1].ipv4"),
// or "" when they are equal; for messages about a stale published_domains.
std::string first_difference(const PublishedDomain& a, const PublishedDomain& b);

}  // namespace whoisd
