// A small strict JSON parser for checking whoisd-admin --json output in tests
// (no JSON library is among the project's dependencies). Throws std::runtime_error
// naming the offset on anything that is not JSON.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace whoisd::test {

struct Json {
  enum class Type { null, boolean, number, string, array, object } type = Type::null;
  bool b = false;
  double n = 0;
  std::string s;
  std::vector<Json> a;
  std::map<std::string, Json> o;

  const Json& operator[](const std::string& key) const {
    auto it = o.find(key);
    if (type != Type::object || it == o.end()) throw std::runtime_error("no member '" + key + "'");
    return it->second;
  }
  const Json& operator[](std::size_t i) const {
    if (type != Type::array || i >= a.size()) throw std::runtime_error("no element " + std::to_string(i));
    return a[i];
  }
  bool has(const std::string& key) const { return type == Type::object && o.count(key); }
  std::int64_t integer() const { return static_cast<std::int64_t>(n); }
};

Json parse_json(std::string_view text);

}  // namespace whoisd::test
