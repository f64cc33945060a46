// quotamilter status [KEY]: the counters of one key (every policy tracking
// it), or the most loaded counters; a table by default, --json for scripts.
// Exit 1 when some counter shown is full (the answer to "may KEY send?" is no).
#include "cli/admin_context.h"
#include "cli/commands.h"
#include "rules/units.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <stdexcept>

namespace quotamilter::cli {

namespace {

constexpr const char* kStatusHelp =
    "usage: quotamilter status [--config FILE] [--redis URL] [--rules FILE] [--json] [--top N] [KEY]\n"
    "\n"
    "With KEY (an address, @domain or domain, SASL user, IP or network): every\n"
    "counter tracking KEY, with its policy, track, count/limit, window and when\n"
    "the next unit frees. Without KEY: the N most loaded counters (default 20),\n"
    "found with SCAN. Limits come from the rule file (--rules, or the config's\n"
    "`rules`); without one they show as '-'.\n"
    "Exit status: 0, or 1 when a counter shown is at its limit.\n"
    "\n"
    "  --config FILE        serve's JSON configuration (redis, key_prefix, rules)\n"
    "  --redis URL          overrides the config (default redis://127.0.0.1:6379/0)\n"
    "  --rules FILE         rule file giving the limits\n"
    "  --key-prefix PREFIX  Redis key prefix (default qm:)\n"
    "  --json               one JSON document instead of a table\n"
    "  --top N              without KEY: how many counters (default 20)\n";

struct Row {
    store::CounterStatus status;
    const rules::Quota* quota = nullptr;  // null: no longer in the rules, or no rules
};

std::string format_ms(std::chrono::milliseconds ms) {
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(ms + std::chrono::milliseconds(999));
    if (seconds.count() <= 0) return "now";
    long s = seconds.count();
    std::string text;
    if (s >= 86400) text += fmt::format("{}d", s / 86400), s %= 86400;
    if (s >= 3600) text += fmt::format("{}h", s / 3600), s %= 3600;
    if (s >= 60) text += fmt::format("{}m", s / 60), s %= 60;
    if (s > 0) text += fmt::format("{}s", s);
    return text;
}

bool is_full(const Row& row) { return row.quota && row.status.count >= row.quota->limit; }

void print_table(const std::vector<Row>& rows) {
    std::vector<std::vector<std::string>> cells{{"POLICY", "TRACK", "KEY", "COUNT/LIMIT", "UNIT", "WINDOW", "NEXT FREE"}};
    for (const auto& row : rows) {
        const auto& id = row.status.counter;
        cells.push_back({id.policy, id.track, id.tracked_value,
                         fmt::format("{}/{}", row.status.count, row.quota ? std::to_string(row.quota->limit) : "-"),
                         id.unit, rules::format_duration(std::chrono::seconds(id.window_seconds)),
                         row.status.next_free ? "in " + format_ms(*row.status.next_free) : "-"});
    }
    std::vector<std::size_t> width(cells.front().size(), 0);
    for (const auto& line : cells)
        for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
    for (const auto& line : cells) {
        std::string out;
        for (std::size_t i = 0; i < line.size(); ++i)
            out += i + 1 < line.size() ? fmt::format("{:<{}}  ", line[i], width[i]) : line[i];
        std::cout << out << '\n';
    }
}

void print_json(const std::vector<Row>& rows) {
    nlohmann::json counters = nlohmann::json::array();
    for (const auto& row : rows) {
        const auto& id = row.status.counter;
        nlohmann::json entry{{"policy", id.policy},         {"track", id.track},
                             {"key", id.tracked_value},     {"unit", id.unit},
                             {"window_seconds", id.window_seconds}, {"count", row.status.count}};
        entry["limit"] = row.quota ? nlohmann::json(row.quota->limit) : nlohmann::json(nullptr);
        entry["next_free_ms"] = row.status.next_free ? nlohmann::json(row.status.next_free->count()) : nlohmann::json(nullptr);
        entry["full"] = is_full(row);
        counters.push_back(std::move(entry));
    }
    std::cout << nlohmann::json{{"counters", counters}}.dump(2) << '\n';
}

}  // namespace

int run_status(const Args& args) {
    auto options = admin_value_options();
    options.insert("top");
    ParsedArgs parsed(args, options, {"json", "help"});
    if (parsed.has("help")) {
        std::fputs(kStatusHelp, stdout);
        return 0;
    }
    if (parsed.positional().size() > 1) throw UsageError("at most one KEY");
    std::size_t top = 20;
    if (auto text = parsed.value("top")) {
        try {
            top = std::stoul(*text);
        } catch (const std::exception&) {
            throw UsageError("--top needs a number");
        }
    }

    AdminContext context = open_admin_context(parsed);
    std::vector<Row> rows;
    auto collect = [&](const store::StatusResult& result) {
        if (result.status != store::AdminStatus::ok) throw std::runtime_error("store: " + result.error);
        for (const auto& counter : result.counters)
            rows.push_back({counter, context.rules ? quota_of(*context.rules, counter.counter) : nullptr});
    };
    if (parsed.positional().empty()) {
        collect(context.store->most_loaded(top));
    } else {
        for (const auto& value : tracked_value_candidates(parsed.positional().front(), context.rules.get()))
            collect(context.store->counters_of(value));
        std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
            const auto& x = a.status.counter;
            const auto& y = b.status.counter;
            return std::tie(x.policy, x.track, x.unit, x.window_seconds, x.tracked_value) <
                   std::tie(y.policy, y.track, y.unit, y.window_seconds, y.tracked_value);
        });
    }

    if (parsed.has("json")) print_json(rows);
    else if (rows.empty()) std::cout << "no counters\n";
    else print_table(rows);
    return std::any_of(rows.begin(), rows.end(), is_full) ? 1 : 0;
}

}  // namespace quotamilter::cli
