// Where a Redis store sends its commands: one server (RedisPool), the master
// a set of Sentinels names (SentinelLink), or the node owning a slot of a
// Redis Cluster (ClusterNodes::SlotLink). The store's logic (scripts, SCAN)
// is written once against this interface.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace quotamilter::store {

struct ReplyDeleter {
    void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
    void operator()(redisContext* context) const { redisFree(context); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

// One Redis command, binary-safe.
using RedisCommand = std::vector<std::string>;
using Deadline = std::chrono::steady_clock::time_point;

class RedisLink {
public:
    virtual ~RedisLink() = default;
    // Sends `commands` in one write and reads one reply per command (server
    // errors such as NOSCRIPT are replies, not failures). False with `error`
    // set on a connection failure or timeout. Never later than `deadline`.
    virtual bool run(std::span<const RedisCommand> commands, std::vector<ReplyPtr>& replies,
                     Deadline deadline, std::string& error) = 0;
};

inline std::string reply_text(const redisReply* r) { return std::string(r->str, r->len); }

inline bool is_error_reply(const redisReply* r, std::string_view code) {
    return r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).starts_with(code);
}

}  // namespace quotamilter::store
