// The store's Redis commands (the Lua scripts of store/lua/ and the SCANs of
// `status` and `reset`), written once against a RedisLink so that a single
// server, a Sentinel-watched master and each slot or node of a Redis Cluster
// run exactly the same code.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "store/redis_link.h"
#include "store/store_backend.h"

namespace quotamilter::store {

class CounterCommands {
public:
    CounterCommands(const StoreOptions& options, const TestHooks& hooks);

    std::chrono::milliseconds timeout() const { return timeout_; }
    Deadline deadline() const { return std::chrono::steady_clock::now() + timeout_; }
    const std::string& prefix() const { return prefix_; }

    // One decide.lua round trip: every key of `requests` must live where
    // `link` sends them (one server, or one cluster slot). An admitted
    // charge fills `receipt` when given (the hot path passes none).
    Decision decide(RedisLink& link, std::span<const CounterRequest> requests, bool charge,
                    Deadline until, ChargeReceipt* receipt = nullptr) const;
    // decide() in two halves, for callers that send several decisions at
    // once (a Redis Cluster message over several slots): the EVALSHA of
    // decide.lua (nullopt with `error` set for a request that cannot be
    // asked), and the Decision its (non-redirection) reply means. A
    // NOSCRIPT or other error reply is a store_error here: send such a
    // request again through decide().
    std::optional<RedisCommand> decide_command(std::span<const CounterRequest> requests,
                                               bool charge, std::string& error) const;
    Decision decide_reply(const redisReply* reply, std::span<const CounterRequest> requests,
                          bool charge, ChargeReceipt* receipt = nullptr) const;
    bool refund(RedisLink& link, std::span<const ChargeReceipt::Entry> entries, Deadline until,
                std::string& error) const;

    // Adds the counters matching `pattern` on `link` (SCAN) to `result`,
    // keeping the `max` largest. False (result.error set) on a failure.
    bool add_status(RedisLink& link, const std::string& pattern, std::size_t max,
                    StatusResult& result) const;
    // `status`: the counters of `tracked_value` (all policies), or the `max`
    // most loaded ones, over `nodes` (one server, or every cluster master).
    StatusResult counters_of(std::span<RedisLink* const> nodes, const std::string& tracked_value) const;
    StatusResult most_loaded(std::span<RedisLink* const> nodes, std::size_t max) const;

    // `reset`: deletes the counters of `tracked_value` (of one policy when
    // given) on every one of `nodes`, even after one failed; a scan that hit
    // its bound is a failure (not everything was deleted).
    ResetResult reset(std::span<RedisLink* const> nodes, const std::string& tracked_value,
                      const std::optional<std::string>& policy) const;

private:
    bool reset_on(RedisLink& link, const std::string& tracked_value,
                  const std::optional<std::string>& policy, bool& truncated, std::string& error) const;
    std::string now_arg() const;
    StatusResult status(std::span<RedisLink* const> nodes, const std::string& pattern,
                        std::size_t max) const;
    template <typename Visit>
    bool scan(RedisLink& link, const std::string& pattern, bool& truncated, std::string& error,
              Visit&& visit) const;

    std::chrono::milliseconds timeout_;
    std::string prefix_;
    std::function<std::int64_t()> clock_;
    std::string counted_buckets_offset_;  // ARGV of the scripts, "0" but in tests (TestHooks)
};

// EVALSHA, and EVAL for any reply that says NOSCRIPT (the script cache
// empties on restart, failover and SCRIPT FLUSH); every script reply must be
// a non-error. `sources[i]` is the source of commands[i]'s script.
bool eval_scripts(RedisLink& link, std::vector<RedisCommand>& commands,
                  std::span<const std::string_view> sources, std::vector<ReplyPtr>& replies,
                  Deadline until, std::string& error);

}  // namespace quotamilter::store
