#include "store/redis_url.h"

#include <algorithm>
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

// Cuts "[USER]:PASSWORD@" off the front of `rest` into `endpoint`.
void take_credentials(const std::string& url, std::string& rest, RedisEndpoint& endpoint) {
    const std::size_t at = rest.rfind('@');
    if (at == std::string::npos) return;
    const std::string userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string::npos) bad(url, "credentials must be [USER]:PASSWORD@");
    endpoint.user = percent_decode(url, userinfo.substr(0, colon));
    endpoint.password = percent_decode(url, userinfo.substr(colon + 1));
    if (endpoint.password.empty()) bad(url, "empty password");
}

// "HOST[:PORT]" or "[IPv6][:PORT]".
RedisAddress parse_address(const std::string& url, const std::string& text, int default_port) {
    RedisAddress address{"", default_port};
    std::string port;
    if (text.starts_with("[")) {  // [IPv6]
        const std::size_t close = text.find(']');
        if (close == std::string::npos) bad(url, "unclosed '[' in host");
        address.host = text.substr(1, close - 1);
        const std::string after = text.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') bad(url, "expected ':PORT' after ']'");
            port = after.substr(1);
            if (port.empty()) bad(url, "empty port");
        }
    } else {
        const std::size_t colon = text.find(':');
        address.host = text.substr(0, colon);
        if (colon != std::string::npos) {
            port = text.substr(colon + 1);
            if (port.empty()) bad(url, "empty port");
        }
    }
    if (address.host.empty()) bad(url, "missing host");
    if (!port.empty()) address.port = parse_number(url, port, 1, 65535, "port");
    return address;
}

}  // namespace

RedisEndpoint parse_redis_url(const std::string& url) {
    RedisEndpoint endpoint;
    const std::string tcp_scheme = "redis://";
    const std::string unix_scheme = "unix://";
    if (url.starts_with("redis+sentinel://") || url.starts_with("redis+cluster://"))
        bad(url, "a Sentinel or Cluster URL names several servers (parse_redis_topology)");
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
    take_credentials(url, rest, endpoint);
    const RedisAddress address = parse_address(url, rest, 6379);
    endpoint.host = address.host;
    endpoint.port = address.port;
    return endpoint;
}

RedisTopology parse_redis_topology(const std::string& url) {
    const std::string sentinel_scheme = "redis+sentinel://";
    const std::string cluster_scheme = "redis+cluster://";
    RedisTopology topology;
    std::string rest;
    if (url.starts_with(sentinel_scheme)) {
        topology.kind = RedisTopology::Kind::sentinel;
        rest = url.substr(sentinel_scheme.size());
    } else if (url.starts_with(cluster_scheme)) {
        topology.kind = RedisTopology::Kind::cluster;
        rest = url.substr(cluster_scheme.size());
    } else {
        topology.endpoint = parse_redis_url(url);
        return topology;
    }
    const std::size_t slash = rest.find('/');
    std::string path;
    if (slash != std::string::npos) {
        path = rest.substr(slash + 1);
        rest.resize(slash);
    }
    if (topology.kind == RedisTopology::Kind::sentinel) {
        const std::size_t db_slash = path.find('/');
        topology.master_name = percent_decode(url, path.substr(0, db_slash));
        if (topology.master_name.empty()) bad(url, "missing /MASTER (the name the Sentinels monitor)");
        if (db_slash != std::string::npos && db_slash + 1 < path.size())
            topology.endpoint.db = parse_number(url, path.substr(db_slash + 1), 0, max_db, "database");
    } else if (!path.empty()) {
        bad(url, "a cluster has only database 0: no /DB");
    }
    take_credentials(url, rest, topology.endpoint);
    const int default_port = topology.kind == RedisTopology::Kind::sentinel ? 26379 : 6379;
    for (std::size_t start = 0; start <= rest.size();) {
        const std::size_t comma = std::min(rest.find(',', start), rest.size());
        topology.seeds.push_back(parse_address(url, rest.substr(start, comma - start), default_port));
        start = comma + 1;
    }
    return topology;
}

RedisEndpoint at_address(const RedisEndpoint& endpoint, const RedisAddress& address) {
    RedisEndpoint at = endpoint;
    at.kind = RedisEndpoint::Kind::tcp;
    at.host = address.host;
    at.port = address.port;
    return at;
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
