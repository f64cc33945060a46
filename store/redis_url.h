// Where the Redis store connects: the URL forms of cli-v1.md.
#pragma once

#include <string>

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

// "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" or "unix:///path/redis.sock[?db=N]".
// USER and PASSWORD may be percent-encoded; an IPv6 HOST goes in brackets.
// Throws std::invalid_argument with a message naming the problem.
RedisEndpoint parse_redis_url(const std::string& url);

// The URL without its password, for logs.
std::string describe(const RedisEndpoint& endpoint);

}  // namespace quotamilter::store
