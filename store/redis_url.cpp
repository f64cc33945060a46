#include "store/redis_url.h"

#include <charconv>
#include <stdexcept>

namespace quotamilter::store {
namespace {

[[noreturn]] void bad(const std::string& url, const std::string& why) {
    throw std::invalid_argument("invalid Redis URL '" + url + "': " + why);
}

std::string percent_decode(const std::string& url, const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        unsigned value = 0;  // unsigned: from_chars then rejects a '-'
        if (i + 2 >= text.size()) bad(url, "truncated %-escape");
        const auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
        if (ec != std::errc{} || end != text.data() + i + 3) bad(url, "bad %-escape");
        out += static_cast<char>(value);
        i += 2;
    }
    return out;
}

int parse_number(const std::string& url, const std::string& text, int min, int max,
                 const char* what) {
    int value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < min ||
        value > max)
        bad(url, std::string(what) + " '" + text + "' is not a number in [" +
                     std::to_string(min) + ", " + std::to_string(max) + "]");
    return value;
}

constexpr int max_db = 1 << 20;

}  // namespace

RedisEndpoint parse_redis_url(const std::string& url) {
    RedisEndpoint endpoint;
    const std::string tcp_scheme = "redis://";
    const std::string unix_scheme = "unix://";
    if (url.starts_with("redis+sentinel://") || url.starts_with("redis+cluster://"))
        bad(url, "redis+sentinel:// and redis+cluster:// are not supported yet; "
                 "use redis://HOST[:PORT][/DB] or unix:///path");
    if (url.starts_with("rediss://")) bad(url, "TLS (rediss://) is not supported");

    if (url.starts_with(unix_scheme)) {
        endpoint.kind = RedisEndpoint::Kind::unix_socket;
        std::string rest = url.substr(unix_scheme.size());
        const std::size_t query = rest.find('?');
        if (query != std::string::npos) {
            const std::string params = rest.substr(query + 1);
            rest.resize(query);
            if (!params.starts_with("db=")) bad(url, "the only query parameter is db=N");
            endpoint.db = parse_number(url, params.substr(3), 0, max_db, "database");
        }
        if (rest.empty() || rest[0] != '/') bad(url, "expected unix:///absolute/path.sock");
        endpoint.socket_path = percent_decode(url, rest);
        return endpoint;
    }

    if (!url.starts_with(tcp_scheme))
        bad(url, "expected redis://, unix:// or memory:");
    std::string rest = url.substr(tcp_scheme.size());
    const std::size_t slash = rest.find('/');
    if (slash != std::string::npos) {
        const std::string db = rest.substr(slash + 1);
        if (!db.empty()) endpoint.db = parse_number(url, db, 0, max_db, "database");
        rest.resize(slash);
    }
    const std::size_t at = rest.rfind('@');
    if (at != std::string::npos) {
        const std::string userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const std::size_t colon = userinfo.find(':');
        if (colon == std::string::npos) bad(url, "credentials must be [USER]:PASSWORD@");
        endpoint.user = percent_decode(url, userinfo.substr(0, colon));
        endpoint.password = percent_decode(url, userinfo.substr(colon + 1));
        if (endpoint.password.empty()) bad(url, "empty password");
    }
    std::string port;
    if (rest.starts_with("[")) {  // [IPv6]
        const std::size_t close = rest.find(']');
        if (close == std::string::npos) bad(url, "unclosed '[' in host");
        endpoint.host = rest.substr(1, close - 1);
        const std::string after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') bad(url, "expected ':PORT' after ']'");
            port = after.substr(1);
            if (port.empty()) bad(url, "empty port");
        }
    } else {
        const std::size_t colon = rest.find(':');
        endpoint.host = rest.substr(0, colon);
        if (colon != std::string::npos) {
            port = rest.substr(colon + 1);
            if (port.empty()) bad(url, "empty port");
        }
    }
    if (endpoint.host.empty()) bad(url, "missing host");
    if (!port.empty()) endpoint.port = parse_number(url, port, 1, 65535, "port");
    return endpoint;
}

std::string describe(const RedisEndpoint& endpoint) {
    if (endpoint.kind == RedisEndpoint::Kind::unix_socket)
        return "unix://" + endpoint.socket_path +
               (endpoint.db ? "?db=" + std::to_string(endpoint.db) : "");
    std::string out = "redis://";
    if (!endpoint.password.empty()) out += endpoint.user + ":***@";
    const bool ipv6 = endpoint.host.find(':') != std::string::npos;
    out += ipv6 ? "[" + endpoint.host + "]" : endpoint.host;
    return out + ":" + std::to_string(endpoint.port) + "/" + std::to_string(endpoint.db);
}

}  // namespace quotamilter::store
