#include "store/counter_commands.h"

#include <algorithm>
#include <limits>

#include "store/key_layout.h"
#include "store/lua_scripts.h"
#include "store/window_math.h"

namespace quotamilter::store {
namespace {

namespace wm = window_math;

struct Script {
    std::string_view source;
    std::string_view sha1;
};
constexpr Script decide_script{lua::decide_source, lua::decide_sha1};
constexpr Script refund_script{lua::refund_source, lua::refund_sha1};
constexpr Script count_script{lua::count_source, lua::count_sha1};

// Bounds of the `status` and `reset` scans.
constexpr std::size_t scan_batch = 1000;          // SCAN COUNT
constexpr std::size_t max_scanned_keys = 100000;  // matched; then the answer is marked truncated
constexpr std::size_t max_scan_calls = 2000;       // about 2 million keys examined
constexpr std::size_t count_batch = 200;          // counts per pipelined round trip

RedisCommand evalsha(const Script& script, std::vector<std::string> keys,
                     std::vector<std::string> args) {
    RedisCommand command{"EVALSHA", std::string(script.sha1), std::to_string(keys.size())};
    command.reserve(3 + keys.size() + args.size());
    for (auto& k : keys) command.push_back(std::move(k));
    for (auto& a : args) command.push_back(std::move(a));
    return command;
}

std::optional<std::int64_t> integer_at(const redisReply* r, std::size_t i) {
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
        r->element[i]->type != REDIS_REPLY_INTEGER)
        return std::nullopt;
    return r->element[i]->integer;
}

}  // namespace

bool eval_scripts(RedisLink& link, std::vector<RedisCommand>& commands,
                  std::span<const std::string_view> sources, std::vector<ReplyPtr>& replies,
                  Deadline until, std::string& error) {
    if (!link.run(commands, replies, until, error)) return false;
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < replies.size(); ++i)
        if (is_error_reply(replies[i].get(), "NOSCRIPT")) missing.push_back(i);
    if (!missing.empty()) {
        std::vector<RedisCommand> retry;
        for (std::size_t i : missing) {
            RedisCommand command = commands[i];
            command[0] = "EVAL";
            command[1] = std::string(sources[std::min(i, sources.size() - 1)]);
            retry.push_back(std::move(command));
        }
        std::vector<ReplyPtr> retried;
        if (!link.run(retry, retried, until, error)) return false;
        for (std::size_t j = 0; j < missing.size(); ++j) replies[missing[j]] = std::move(retried[j]);
    }
    for (const auto& r : replies)
        if (r->type == REDIS_REPLY_ERROR) {
            error = "Redis script: " + reply_text(r.get());
            return false;
        }
    return true;
}

CounterCommands::CounterCommands(const StoreOptions& options, const TestHooks& hooks)
    : timeout_(options.timeout),
      prefix_(options.key_prefix),
      clock_(hooks.simulated_clock_ms),
      counted_buckets_offset_(std::to_string(hooks.counted_buckets_offset)) {}

std::string CounterCommands::now_arg() const {
    return clock_ ? std::to_string(clock_()) : std::string();
}

std::optional<RedisCommand> CounterCommands::decide_command(std::span<const CounterRequest> requests,
                                                            bool charge, std::string& error) const {
    const char* mode = charge ? "charge" : "check";
    std::vector<std::string> keys;
    std::vector<std::string> args{mode, now_arg(), counted_buckets_offset_};
    for (const auto& r : requests) {
        if (r.counter.window_seconds == 0) {
            error = "counter " + counter_key(prefix_, r.counter) + " has a zero window";
            return std::nullopt;
        }
        keys.push_back(counter_key(prefix_, r.counter));
        const std::int64_t w = wm::window_ms(r.counter.window_seconds);
        args.push_back(std::to_string(w));
        args.push_back(std::to_string(wm::bucket_width_ms(w)));
        args.push_back(std::to_string(r.limit));
        args.push_back(std::to_string(r.cost));
    }
    return evalsha(decide_script, std::move(keys), std::move(args));
}

Decision CounterCommands::decide_reply(const redisReply* r, std::span<const CounterRequest> requests,
                                       bool charge, ChargeReceipt* receipt) const {
    Decision d;
    if (receipt) receipt->entries.clear();
    if (r->type == REDIS_REPLY_ERROR) {
        d.error = "Redis script: " + reply_text(r);
        return d;
    }
    const auto verdict = integer_at(r, 0);
    if (verdict == 1 && r->elements == requests.size() + 1) {
        d.outcome = Outcome::admitted;
        if (charge && receipt) {
            for (std::size_t i = 0; i < requests.size(); ++i)
                if (requests[i].cost > 0)
                    receipt->entries.push_back(
                        {requests[i].counter, *integer_at(r, i + 1), requests[i].cost});
        }
        return d;
    }
    const auto index = integer_at(r, 1), count = integer_at(r, 2), limit = integer_at(r, 3),
               retry = integer_at(r, 4);
    if (verdict == 0 && index && count && limit && retry && *index >= 1 &&
        static_cast<std::size_t>(*index) <= requests.size()) {
        d.outcome = Outcome::refused;
        d.refused_index = static_cast<std::size_t>(*index - 1);
        d.count = static_cast<std::uint64_t>(std::max<std::int64_t>(*count, 0));
        d.limit = static_cast<std::uint64_t>(*limit);
        if (*retry >= 0) d.retry_after = std::chrono::milliseconds(*retry);
        return d;
    }
    d.error = "Redis script: unexpected reply to decide.lua";
    return d;
}

Decision CounterCommands::decide(RedisLink& link, std::span<const CounterRequest> requests,
                                 bool charge, Deadline until, ChargeReceipt* receipt) const {
    Decision d;
    if (receipt) receipt->entries.clear();
    if (requests.empty()) {
        d.outcome = Outcome::admitted;
        return d;
    }
    auto command = decide_command(requests, charge, d.error);
    if (!command) return d;
    std::vector<RedisCommand> commands{std::move(*command)};
    std::vector<ReplyPtr> replies;
    const std::string_view sources[] = {decide_script.source};
    if (!eval_scripts(link, commands, sources, replies, until, d.error)) return d;
    return decide_reply(replies[0].get(), requests, charge, receipt);
}

bool CounterCommands::refund(RedisLink& link, std::span<const ChargeReceipt::Entry> entries,
                             Deadline until, std::string& error) const {
    if (entries.empty()) return true;
    std::vector<std::string> keys;
    std::vector<std::string> args{now_arg(), counted_buckets_offset_};
    for (const auto& e : entries) {
        keys.push_back(counter_key(prefix_, e.counter));
        const std::int64_t w = wm::window_ms(e.counter.window_seconds);
        args.push_back(std::to_string(w));
        args.push_back(std::to_string(wm::bucket_width_ms(w)));
        args.push_back(std::to_string(e.bucket_ms));
        args.push_back(std::to_string(e.cost));
    }
    std::vector<RedisCommand> commands{evalsha(refund_script, keys, args)};
    std::vector<ReplyPtr> replies;
    const std::string_view sources[] = {refund_script.source};
    if (!eval_scripts(link, commands, sources, replies, until, error)) return false;
    if (replies[0]->type != REDIS_REPLY_INTEGER) {
        error = "Redis script: unexpected reply to refund.lua";
        return false;
    }
    return true;
}

template <typename Visit>
bool CounterCommands::scan(RedisLink& link, const std::string& pattern, bool& truncated,
                           std::string& error, Visit&& visit) const {
    std::string cursor = "0";
    std::size_t seen = 0, calls = 0;
    do {
        std::vector<RedisCommand> commands{
            {"SCAN", cursor, "MATCH", pattern, "COUNT", std::to_string(scan_batch)}};
        std::vector<ReplyPtr> replies;
        if (!link.run(commands, replies, deadline(), error)) return false;
        const redisReply* r = replies[0].get();
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            error = "Redis SCAN: unexpected reply";
            return false;
        }
        cursor = reply_text(r->element[0]);
        std::vector<std::string> keys;
        for (std::size_t i = 0; i < r->element[1]->elements; ++i)
            keys.push_back(reply_text(r->element[1]->element[i]));
        seen += keys.size();
        if (!visit(keys)) return false;
        if ((seen >= max_scanned_keys || ++calls >= max_scan_calls) && cursor != "0") {
            truncated = true;
            break;
        }
    } while (cursor != "0");
    return true;
}

bool CounterCommands::add_status(RedisLink& link, const std::string& pattern, std::size_t max,
                                 StatusResult& result) const {
    const std::string now = now_arg();
    return scan(link, pattern, result.truncated, result.error, [&](std::vector<std::string>& keys) {
        for (std::size_t start = 0; start < keys.size(); start += count_batch) {
            std::vector<RedisCommand> commands;
            std::vector<CounterId> ids;
            for (std::size_t i = start; i < std::min(keys.size(), start + count_batch); ++i) {
                auto id = key_layout::parse_counter_key(prefix_, keys[i]);
                if (!id) continue;
                const std::int64_t w = wm::window_ms(id->window_seconds);
                commands.push_back(evalsha(count_script, {keys[i]},
                                           {std::to_string(id->window_seconds), now, "detail",
                                            counted_buckets_offset_,
                                            std::to_string(wm::bucket_width_ms(w))}));
                ids.push_back(std::move(*id));
            }
            if (commands.empty()) continue;
            std::vector<ReplyPtr> replies;
            const std::string_view sources[] = {count_script.source};
            if (!eval_scripts(link, commands, sources, replies, deadline(), result.error))
                return false;
            for (std::size_t i = 0; i < ids.size(); ++i) {
                const auto count = integer_at(replies[i].get(), 0);
                const auto next_free = integer_at(replies[i].get(), 1);
                if (!count || !next_free) {
                    result.error = "Redis script: unexpected reply to count.lua";
                    return false;
                }
                if (*count <= 0) continue;
                CounterStatus cs{std::move(ids[i]), static_cast<std::uint64_t>(*count), std::nullopt};
                if (*next_free >= 0) cs.next_free = std::chrono::milliseconds(*next_free);
                result.counters.push_back(std::move(cs));
            }
            // Keep memory bounded for most_loaded: only the top `max` survive.
            auto by_count = [](const CounterStatus& a, const CounterStatus& b) {
                return a.count > b.count;
            };
            std::stable_sort(result.counters.begin(), result.counters.end(), by_count);
            if (result.counters.size() > max) result.counters.resize(max);
        }
        return true;
    });
}

StatusResult CounterCommands::status(std::span<RedisLink* const> nodes, const std::string& pattern,
                                     std::size_t max) const {
    StatusResult result;
    bool ok = true;
    for (RedisLink* node : nodes)
        if (ok) ok = add_status(*node, pattern, max, result);
    result.status = ok ? AdminStatus::ok : AdminStatus::store_error;
    if (!ok) result.counters.clear();
    return result;
}

StatusResult CounterCommands::counters_of(std::span<RedisLink* const> nodes,
                                          const std::string& tracked_value) const {
    return status(nodes, key_layout::scan_pattern(prefix_, tracked_value, std::nullopt),
                  std::numeric_limits<std::size_t>::max());
}

StatusResult CounterCommands::most_loaded(std::span<RedisLink* const> nodes, std::size_t max) const {
    return status(nodes, key_layout::glob_escape(prefix_) + "{*", max);
}

ResetResult CounterCommands::reset(std::span<RedisLink* const> nodes,
                                   const std::string& tracked_value,
                                   const std::optional<std::string>& policy) const {
    ResetResult result;
    bool ok = true;
    for (RedisLink* node : nodes) {
        bool truncated = false;
        std::string error;
        if (reset_on(*node, tracked_value, policy, truncated, error)) {
            if (!truncated) continue;
            error = "more keys than one bounded scan: not every counter was deleted";
        }
        ok = false;
        result.error += (result.error.empty() ? "" : "; ") + error;
    }
    result.status = ok ? AdminStatus::ok : AdminStatus::store_error;
    return result;
}

bool CounterCommands::reset_on(RedisLink& link, const std::string& tracked_value,
                               const std::optional<std::string>& policy, bool& truncated,
                               std::string& error) const {
    const std::string pattern = key_layout::scan_pattern(prefix_, tracked_value, policy);
    const std::string wanted = key_layout::escape_tracked_value(tracked_value);
    return scan(link, pattern, truncated, error, [&](std::vector<std::string>& keys) {
        // The pattern is a glob: keep only keys that parse back to this value.
        std::erase_if(keys, [&](const std::string& key) {
            auto id = key_layout::parse_counter_key(prefix_, key);
            return !id || key_layout::escape_tracked_value(id->tracked_value) != wanted ||
                   (policy && id->policy != *policy);
        });
        if (keys.empty()) return true;
        // One DEL per key, pipelined: a cluster refuses a DEL of keys in
        // several slots (they all share the tracked value's slot today, but
        // nothing here should depend on it).
        std::vector<RedisCommand> commands;
        for (const auto& key : keys) commands.push_back({"DEL", key});
        std::vector<ReplyPtr> replies;
        if (!link.run(commands, replies, deadline(), error)) return false;
        for (const auto& r : replies)
            if (r->type != REDIS_REPLY_INTEGER) {
                error = "Redis DEL: " + (r->type == REDIS_REPLY_ERROR ? reply_text(r.get())
                                                                      : std::string("unexpected reply"));
                return false;
            }
        return true;
    });
}

}  // namespace quotamilter::store
