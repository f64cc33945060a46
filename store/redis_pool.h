// A thread-safe pool of hiredis connections (hiredis contexts are not
// thread-safe; libmilter runs callbacks on many threads).
//
// Every call is bounded by a deadline: waiting for a free connection,
// connecting, AUTH/SELECT and the commands themselves. After a failure the
// pool drops every connection it holds (after a Redis restart they are all
// dead) and fails fast for a short back-off (100 ms, doubling to 1 s), so an
// outage costs one timeout now and then instead of one per call; the first
// call after the back-off reconnects, so the pool recovers by itself.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "store/redis_link.h"
#include "store/redis_url.h"

namespace quotamilter::store {

class RedisPool final : public RedisLink {
public:
    RedisPool(RedisEndpoint endpoint, std::chrono::milliseconds timeout, std::size_t size);

    // Sends `commands` in one write and reads one reply per command (server
    // errors such as NOSCRIPT are replies, not failures). False with `error`
    // set on a connection failure or timeout.
    bool run(std::span<const RedisCommand> commands, std::vector<ReplyPtr>& replies,
             Deadline deadline, std::string& error) override;

    std::chrono::milliseconds timeout() const { return timeout_; }
    const RedisEndpoint& endpoint() const { return endpoint_; }

private:
    struct Slot {
        ContextPtr context;
        std::uint64_t generation = 0;  // pool generation it was connected in
        bool busy = false;
    };

    ContextPtr connect(Deadline deadline, std::string& error) const;
    void note_failure(const std::string& error);

    const RedisEndpoint endpoint_;
    const std::chrono::milliseconds timeout_;

    std::mutex mutex_;
    std::condition_variable slot_freed_;
    std::vector<Slot> slots_;
    std::uint64_t generation_ = 0;                 // bumped by every failure
    std::chrono::steady_clock::time_point retry_at_{};
    std::chrono::milliseconds backoff_{0};
    std::string last_error_;
};

}  // namespace quotamilter::store
