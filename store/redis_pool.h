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
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "store/redis_link.h"
#include "store/redis_url.h"

namespace quotamilter::store {

class RedisPool final : public RedisLink {
    struct Slot;  // a pooled connection (below)

public:
    RedisPool(RedisEndpoint endpoint, std::chrono::milliseconds timeout, std::size_t size);

    // Sends `commands` in one write and reads one reply per command (server
    // errors such as NOSCRIPT are replies, not failures). False with `error`
    // set on a connection failure or timeout.
    bool run(std::span<const RedisCommand> commands, std::vector<ReplyPtr>& replies,
             Deadline deadline, std::string& error) override;

    std::chrono::milliseconds timeout() const { return timeout_; }
    const RedisEndpoint& endpoint() const { return endpoint_; }

    // One pooled connection held for a split exchange: send() now, receive()
    // later, so that one thread can have commands in flight on several
    // nodes at once (a Redis Cluster message over several slots). Returned
    // to the pool when destroyed: kept when every reply sent for was read,
    // closed otherwise; a failed send or receive counts as a failure of the
    // pool (back-off), as in run(). Hold at most one lease per pool per
    // thread, and take leases of several pools in one fixed order (e.g. by
    // address): a thread waiting for a connection while holding another
    // pool's could otherwise wait for a thread waiting for it.
    class Lease {
    public:
        Lease(Lease&& other) noexcept;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        ~Lease();
        // Appends `commands` and writes them all. False with `error` set on a
        // connection failure (the lease is then of no further use).
        bool send(std::span<const RedisCommand> commands, std::string& error);
        // Reads one reply per command sent so far and not yet read.
        bool receive(std::vector<ReplyPtr>& replies, std::string& error);

    private:
        friend class RedisPool;
        Lease(RedisPool& pool, Slot& slot, ContextPtr context, std::uint64_t generation,
              std::chrono::milliseconds timeout_set, Deadline deadline);
        bool set_timeout(std::string& error);

        RedisPool* pool_;
        Slot* slot_;
        ContextPtr context_;
        std::uint64_t generation_;
        std::chrono::milliseconds timeout_set_;
        Deadline deadline_;
        std::size_t unread_ = 0;
        std::string failure_;  // non-empty: a send or receive failed
    };
    // Takes a free connection (connecting it if needed) within `deadline`,
    // which also bounds the lease's send() and receive(). Nullopt with
    // `error` set when none is free in time, the pool is backing off after
    // a failure, or connecting fails.
    std::optional<Lease> lease(Deadline deadline, std::string& error);

private:
    struct Slot {
        ContextPtr context;
        std::uint64_t generation = 0;  // pool generation it was connected in
        std::chrono::milliseconds timeout_set{0};  // socket timeout last set on it
        bool busy = false;
    };

    ContextPtr connect(Deadline deadline, std::chrono::milliseconds& timeout_set,
                       std::string& error) const;
    void note_failure(const std::string& error);

    const RedisEndpoint endpoint_;
    const std::chrono::milliseconds timeout_;
    const bool block_sigpipe_;  // SIGPIPE was not ignored when the pool was made

    std::mutex mutex_;
    std::condition_variable slot_freed_;
    std::vector<Slot> slots_;
    std::uint64_t generation_ = 0;                 // bumped by every failure
    std::chrono::steady_clock::time_point retry_at_{};
    std::chrono::milliseconds backoff_{0};
    std::string last_error_;
};

}  // namespace quotamilter::store
