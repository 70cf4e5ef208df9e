#include "json_lite.h"

#include <cstdlib>

namespace whoisd::test {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}
  Json document() {
    Json v = value();
    ws();
    if (i_ != t_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw std::runtime_error("not JSON at offset " + std::to_string(i_) + ": " + why);
  }
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\r' || t_[i_] == '\t')) ++i_;
  }
  bool eat(std::string_view word) {
    if (t_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }
  Json value() {
    ws();
    if (i_ >= t_.size()) fail("unexpected end");
    Json v;
    char c = t_[i_];
    if (c == '{') {
      v.type = Json::Type::object;
      ++i_;
      ws();
      if (eat("}")) return v;
      for (;;) {
        ws();
        if (i_ >= t_.size() || t_[i_] != '"') fail("expected a member name");
        std::string key = string();
        ws();
        if (!eat(":")) fail("expected ':'");
        if (v.o.count(key)) fail("duplicate member " + key);
        v.o[key] = value();
        ws();
        if (eat("}")) return v;
        if (!eat(",")) fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.type = Json::Type::array;
      ++i_;
      ws();
      if (eat("]")) return v;
      for (;;) {
        v.a.push_back(value());
        ws();
        if (eat("]")) return v;
        if (!eat(",")) fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.type = Json::Type::string;
      v.s = string();
      return v;
    }
    if (eat("null")) return v;
    if (eat("true") || eat("false")) {
      v.type = Json::Type::boolean;
      v.b = t_[i_ - 1] == 'e' && t_[i_ - 2] == 'u';  // "true", not "false"
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t start = i_;
      if (t_[i_] == '-') ++i_;
      while (i_ < t_.size() && ((t_[i_] >= '0' && t_[i_] <= '9') || t_[i_] == '.' || t_[i_] == 'e' ||
                                t_[i_] == 'E' || t_[i_] == '+' || t_[i_] == '-'))
        ++i_;
      v.type = Json::Type::number;
      v.n = std::strtod(std::string(t_.substr(start, i_ - start)).c_str(), nullptr);
      return v;
    }
    fail(std::string("unexpected character '") + c + "'");
  }
  std::string string() {
    ++i_;  // the opening quote
    std::string out;
    for (;;) {
      if (i_ >= t_.size()) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(t_[i_++]);
      if (c == '"') return out;
      if (c < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (i_ >= t_.size()) fail("unterminated escape");
      char e = t_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (i_ + 4 > t_.size()) fail("short \\u escape");
          unsigned cp = static_cast<unsigned>(std::stoul(std::string(t_.substr(i_, 4)), nullptr, 16));
          i_ += 4;
          if (cp < 0x80) {
            out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
          } else {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
          }
          break;
        }
        default: fail("bad escape");
      }
    }
  }
  std::string_view t_;
  std::size_t i_ = 0;
};

}  // namespace

Json parse_json(std::string_view text) { return Parser(text).document(); }

}  // namespace whoisd::test
