// The property test of the sliding windows (guarantees 3 and 4 of
// rules-v1.md), with a simulated clock and an independent model: the log of
// every admitted message.
//
//   (a) never more than the limit: for every admitted message at time t and
//       each of its quotas, the units admitted in (t - W, t] are <= limit
//       (the fullest interval of length W always ends at an admission);
//   (b) never refused without cause: a refused message has a quota whose units
//       admitted in (t - W - W/60, t] plus its cost exceed the limit;
//   (c) the reported count lies between the exact count, (t - W, t], and the
//       stretched one, (t - W - W/60, t];
//   (d) retry_after is neither early nor late: with no new traffic, at
//       t + retry_after every quota's exact count plus its cost fits, and one
//       ms before, some quota's stretched count plus its cost does not; no
//       retry_after only when a cost exceeds its limit.
//
// The workload mixes bursts (same ms), steady arrivals, arrivals hugging
// bucket edges (the last ms of a bucket, its first ms), long gaps (W, W + g,
// more), random recipient and byte costs, and refunds right after a charge
// (as for an aborted message).
#pragma once

#include <chrono>
#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "sim_clock.h"
#include "store/testing.h"
#include "store/window_math.h"

namespace quotamilter::test {

struct PropertyReport {
    std::size_t messages = 0, admitted = 0, refused = 0, refunded = 0;
    std::size_t over_limit = 0;      // (a) violations
    std::size_t unjustified = 0;     // (b) violations
    std::size_t bad_count = 0;       // (c) violations
    std::size_t bad_retry = 0;       // (d) violations
    std::size_t store_errors = 0;
    std::string first_problem;
    bool clean() const { return over_limit + unjustified + bad_count + bad_retry + store_errors == 0; }
};

class WindowProperty {
public:
    struct Quota {
        store::CounterId counter;
        std::uint64_t limit;
    };

    WindowProperty(store::StoreBackend& store, SimClock& clock, std::uint32_t seed)
        : store_(store), clock_(clock), random_(seed) {}

    // One sender's quotas: messages, recipients and bytes over the given windows.
    static std::vector<Quota> quotas_for(const std::string& sender,
                                         const std::vector<std::uint32_t>& windows,
                                         std::mt19937& random) {
        std::vector<Quota> quotas;
        const char* units[] = {"messages", "recipients", "bytes"};
        for (std::size_t i = 0; i < windows.size(); ++i) {
            const std::string unit = units[i % 3];
            std::uint64_t limit = std::uniform_int_distribution<std::uint64_t>(3, 20)(random);
            if (unit == "bytes") limit *= 1000;
            quotas.push_back({{"prop" + std::to_string(i), "sender", unit, windows[i], sender}, limit});
        }
        return quotas;
    }

    PropertyReport run(const std::vector<std::vector<Quota>>& senders, std::size_t max_messages,
                       std::chrono::milliseconds max_time) {
        const auto give_up_at = std::chrono::steady_clock::now() + max_time;
        std::vector<std::int64_t> windows_ms;
        for (const auto& quotas : senders)
            for (const auto& q : quotas) windows_ms.push_back(store::window_math::window_ms(q.counter.window_seconds));

        for (std::size_t n = 0; n < max_messages; ++n) {
            if (std::chrono::steady_clock::now() > give_up_at) break;
            clock_.advance(next_gap(windows_ms));
            const auto& quotas = senders[pick(senders.size())];
            one_message(quotas);
        }
        return report_;
    }

private:
    using Log = std::vector<std::pair<std::int64_t, std::uint64_t>>;  // (time, units)

    std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_); }

    std::int64_t next_gap(const std::vector<std::int64_t>& windows_ms) {
        const std::int64_t now = clock_.now();
        if (!episode_.empty()) {  // an edge episode in progress, see below
            const Step step = episode_.front();
            episode_.pop_front();
            const std::int64_t g = store::window_math::bucket_width_ms(episode_w_);
            switch (step) {
                case Step::long_gap: return *std::max_element(windows_ms.begin(), windows_ms.end()) + 1;
                case Step::bucket_end: return g - 1 - now % g;
                case Step::window_later: return episode_w_ - now % g;
                case Step::burst: return 0;
            }
        }
        const std::int64_t w = windows_ms[pick(windows_ms.size())];
        const std::int64_t g = store::window_math::bucket_width_ms(w);
        const int kind = static_cast<int>(pick(1000));
        auto upto = [&](std::int64_t n) { return static_cast<std::int64_t>(pick(static_cast<std::size_t>(n) + 1)); };
        if (kind < 5 || ++gaps_ == 200) {  // sure to happen in a short run, too
            // An edge episode: after a quiet spell, a burst in the last ms of a
            // bucket, then a burst in the first ms of the bucket one window
            // later. The units of the first burst are still in the true window
            // then: a store that drops their bucket one bucket early over-admits.
            // Each burst is long enough to fill any limit of the workload.
            episode_w_ = w;
            episode_.assign(1, Step::bucket_end);
            episode_.insert(episode_.end(), 24, Step::burst);
            episode_.push_back(Step::window_later);
            episode_.insert(episode_.end(), 24, Step::burst);
            return *std::max_element(windows_ms.begin(), windows_ms.end()) + 1;
        }
        if (kind < 300) return 0;                            // burst: the same ms
        if (kind < 450) return 1 + upto(g);                  // within a bucket or the next
        if (kind < 600) return g - 1 - now % g;              // the last ms of this bucket
        if (kind < 700) return g - now % g;                  // the first ms of the next
        if (kind < 980) return upto(w / 50);                 // steady, about the limits' pace
        if (kind < 990) return w - now % g;                  // the first ms of this bucket + W
        if (kind < 995) return w - g + upto(2 * g);          // about one window later
        if (kind < 998) return w + g - 1 - now % g;          // a window later, at a bucket end
        return w + upto(2 * w);                              // a long gap: everything expires
    }

    std::uint64_t cost_for(const Quota& q) {
        if (q.counter.unit == "messages") return 1;
        if (q.counter.unit == "recipients") return 1 + pick(pick(10) == 0 ? q.limit + 2 : 5);
        return 1 + pick(static_cast<std::size_t>(q.limit / 3));
    }

    static std::uint64_t units_in(const Log& log, std::int64_t after, std::int64_t until) {
        std::uint64_t sum = 0;
        for (const auto& [t, units] : log)
            if (t > after && t <= until) sum += units;
        return sum;
    }

    // Units in (t - W - W/60, t], exactly (W/60 need not be whole ms).
    static std::uint64_t units_stretched(const Log& log, std::int64_t t, std::int64_t w) {
        std::uint64_t sum = 0;
        for (const auto& [e, units] : log)
            if (e <= t && 60 * (t - e) < 61 * w) sum += units;
        return sum;
    }

    void problem(std::size_t& counter, const std::string& what) {
        ++counter;
        if (report_.first_problem.empty())
            report_.first_problem = what + " at t=" + std::to_string(clock_.now());
    }

    void one_message(const std::vector<Quota>& quotas) {
        const std::int64_t t = clock_.now();
        std::vector<store::CounterRequest> requests;
        for (const auto& q : quotas) requests.push_back({q.counter, q.limit, cost_for(q)});
        ++report_.messages;
        const bool use_check_first = pick(4) == 0;
        if (use_check_first) {
            const auto c = store_.check(requests);
            if (c.outcome == store::Outcome::store_error) {
                problem(report_.store_errors, "check: " + c.error);
                return;
            }
        }
        store::ChargeReceipt receipt;
        const auto d = store_.charge_with_receipt(requests, receipt);
        if (d.outcome == store::Outcome::store_error) {
            problem(report_.store_errors, "charge: " + d.error);
            return;
        }
        if (d.outcome == store::Outcome::refused) {
            ++report_.refused;
            bool justified = false;
            for (std::size_t i = 0; i < requests.size(); ++i) {
                const auto w = store::window_math::window_ms(requests[i].counter.window_seconds);
                if (units_stretched(logs_[key(requests[i])], t, w) + requests[i].cost > requests[i].limit)
                    justified = true;
            }
            if (!justified) problem(report_.unjustified, "unjustified refusal");
            const auto& r = requests.at(d.refused_index);
            const auto w = store::window_math::window_ms(r.counter.window_seconds);
            const Log& log = logs_[key(r)];
            if (d.count < units_in(log, t - w, t) || d.count > units_stretched(log, t, w) ||
                d.limit != r.limit)
                problem(report_.bad_count, "reported count " + std::to_string(d.count) + " outside [" +
                                               std::to_string(units_in(log, t - w, t)) + ", " +
                                               std::to_string(units_stretched(log, t, w)) + "]");
            check_retry_after(requests, d);
            return;
        }
        ++report_.admitted;
        for (const auto& r : requests) logs_[key(r)].push_back({t, r.cost});
        for (const auto& r : requests) {
            const auto w = store::window_math::window_ms(r.counter.window_seconds);
            const std::uint64_t in_window = units_in(logs_[key(r)], t - w, t);
            if (in_window > r.limit)
                problem(report_.over_limit, key(r) + ": " + std::to_string(in_window) +
                                                " units in one window, limit " + std::to_string(r.limit));
        }
        if (pick(10) == 0) {  // an aborted message: refund at once (or a few ms later)
            clock_.advance(static_cast<std::int64_t>(pick(3)));
            if (!store_.refund(receipt)) {
                problem(report_.store_errors, "refund failed");
                return;
            }
            ++report_.refunded;
            for (const auto& r : requests) logs_[key(r)].pop_back();
        }
    }

    void check_retry_after(const std::vector<store::CounterRequest>& requests, const store::Decision& d) {
        bool never_fits = false;
        for (const auto& r : requests) never_fits = never_fits || r.cost > r.limit;
        if (!d.retry_after) {
            if (!never_fits) problem(report_.bad_retry, "no retry_after, yet every cost <= its limit");
            return;
        }
        if (never_fits) problem(report_.bad_retry, "a retry_after for a cost above its limit");
        const std::int64_t at = clock_.now() + d.retry_after->count();
        if (d.retry_after->count() <= 0) problem(report_.bad_retry, "retry_after not in the future");
        bool fits_at = true, still_refused_before = false;
        for (const auto& r : requests) {
            const auto w = store::window_math::window_ms(r.counter.window_seconds);
            const Log& log = logs_[key(r)];
            if (units_in(log, at - w, at) + r.cost > r.limit) fits_at = false;
            if (units_stretched(log, at - 1, w) + r.cost > r.limit) still_refused_before = true;
        }
        if (!fits_at) problem(report_.bad_retry, "retry_after too early");
        if (!still_refused_before) problem(report_.bad_retry, "retry_after later than any cause");
    }

    static std::string key(const store::CounterRequest& r) {
        return store::counter_key("", r.counter);
    }

    store::StoreBackend& store_;
    SimClock& clock_;
    std::mt19937 random_;
    std::map<std::string, Log> logs_;
    enum class Step { long_gap, bucket_end, burst, window_later };
    std::deque<Step> episode_;
    std::int64_t episode_w_ = 0;
    std::size_t gaps_ = 0;
    PropertyReport report_;
};

// One run: two senders with a messages, recipients and bytes quota (cycling)
// per window in `windows`.
inline PropertyReport run_window_property(store::StoreBackend& store, SimClock& clock,
                                          std::uint32_t seed,
                                          const std::vector<std::uint32_t>& windows,
                                          std::size_t max_messages,
                                          std::chrono::milliseconds max_time) {
    std::mt19937 random(seed);
    std::vector<std::vector<WindowProperty::Quota>> senders;
    for (int i = 0; i < 2; ++i)
        senders.push_back(WindowProperty::quotas_for("sender" + std::to_string(i) + "@example.com",
                                                     windows, random));
    WindowProperty property(store, clock, seed);
    return property.run(senders, max_messages, max_time);
}

// The window sets every store is run with: 1 s, 7 s, 1800 s, 31 d, and mixes.
inline const std::vector<std::vector<std::uint32_t>>& property_window_sets() {
    static const std::vector<std::vector<std::uint32_t>> sets{
        {1}, {7}, {1800}, {2678400}, {1, 7, 1800}, {7, 1800, 2678400}};
    return sets;
}

}  // namespace quotamilter::test
