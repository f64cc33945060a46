// Where the Redis store connects: the URL forms of cli-v1.md.
#pragma once

#include <string>
#include <vector>

namespace quotamilter::store {

struct RedisEndpoint {
    enum class Kind { tcp, unix_socket };
    Kind kind = Kind::tcp;
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string socket_path;   // unix_socket
    std::string user;          // empty: the default user (AUTH with the password only)
    std::string password;      // empty: no AUTH
    int db = 0;                // SELECT when not 0
};

struct RedisAddress {
    std::string host;
    int port = 0;
    bool operator==(const RedisAddress&) const = default;
};

// Which Redis deployment a URL names.
struct RedisTopology {
    enum class Kind { single, sentinel, cluster };
    Kind kind = Kind::single;
    // single: where to connect. sentinel and cluster: the credentials and the
    // db for every data node (host and port are filled in per node).
    RedisEndpoint endpoint;
    std::vector<RedisAddress> seeds;  // the Sentinels, or cluster nodes that know the slot map
    std::string master_name;          // sentinel: the name the Sentinels monitor
};

// Any URL form of cli-v1.md but memory::
//   redis://…, unix://…,
//   redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[/DB]
//   redis+cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]
// Throws std::invalid_argument with a message naming the problem.
RedisTopology parse_redis_topology(const std::string& url);

// "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" or "unix:///path/redis.sock[?db=N]".
// USER and PASSWORD may be percent-encoded; an IPv6 HOST goes in brackets.
// Throws std::invalid_argument with a message naming the problem.
RedisEndpoint parse_redis_url(const std::string& url);

// The URL without its password, for logs.
std::string describe(const RedisEndpoint& endpoint);

// `endpoint`'s credentials and db at another address (a node found at run time).
RedisEndpoint at_address(const RedisEndpoint& endpoint, const RedisAddress& address);

}  // namespace quotamilter::store
