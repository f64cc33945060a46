// Reading and validating rule files. Every problem becomes a Diagnostic at
// the FILE:LINE:COL of the key or value at fault; validation goes on after an
// error so that one run of `check` reports everything.
#include "rules/load.h"

#include "rules/header_text.h"
#include "rules/item.h"
#include "rules/json_tree.h"
#include "rules/keys.h"
#include "rules/match.h"
#include "rules/stage_plan.h"
#include "rules/units.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <tuple>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace quotamilter::rules {

std::string Diagnostic::str() const {
    if (line <= 0) return file + ": " + message;  // the file as a whole (cannot open it)
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

using Kind = JsonValue::Kind;

constexpr std::uint64_t kMaxLimit = (std::uint64_t{1} << 53) - 1;  // exact in Lua/Redis doubles
constexpr std::int64_t kMaxWindowSeconds = 31 * 86400;
constexpr std::size_t kMaxReplyText = 900;
constexpr std::int64_t kMaxPriority = 1000000;
constexpr std::size_t kMaxGroupDepth = 32;
constexpr std::size_t kMaxRegexLength = 4096;
constexpr std::size_t kMaxHeaderConditions = 64;

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

template <typename Keys>
std::string join(const Keys& keys) {
    std::string out;
    for (std::string_view key : keys) {
        if (!out.empty()) out += ", ";
        out += key;
    }
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const char ca = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i - 1])));
            const char cb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[j - 1])));
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (ca == cb ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

template <typename Keys>
bool contains(const Keys& keys, std::string_view key) {
    return std::find(std::begin(keys), std::end(keys), key) != std::end(keys);
}

std::optional<Verdict> parse_verdict(std::string_view text) {
    if (text == "tempfail") return Verdict::tempfail;
    if (text == "reject") return Verdict::reject;
    if (text == "quarantine") return Verdict::quarantine;
    if (text == "discard") return Verdict::discard;
    if (text == "tag") return Verdict::tag;
    return std::nullopt;
}

std::optional<Track> parse_track(std::string_view text) {
    static constexpr std::pair<std::string_view, Track> kTracks[] = {
        {"sender", Track::sender},       {"sender_domain", Track::sender_domain},
        {"sasl_user", Track::sasl_user}, {"client_ip", Track::client_ip},
        {"client_net", Track::client_net}, {"recipient", Track::recipient},
        {"recipient_domain", Track::recipient_domain}, {"policy", Track::policy}};
    for (const auto& [name, track] : kTracks) {
        if (text == name) return track;
    }
    return std::nullopt;
}

// The policy-list a match list belongs to decides which items make sense.
enum class ListKind { sender, recipient, client, sasl };

std::string_view list_name(ListKind kind) {
    switch (kind) {
        case ListKind::sender: return "sender";
        case ListKind::recipient: return "recipient";
        case ListKind::client: return "client";
        case ListKind::sasl: return "sasl";
    }
    return "";
}

bool item_fits(ListKind list, Item::Kind kind) {
    switch (kind) {
        case Item::Kind::any:
        case Item::Kind::group: return true;
        case Item::Kind::null_sender: return list == ListKind::sender;
        case Item::Kind::address:
        case Item::Kind::domain:
        case Item::Kind::subdomains: return list != ListKind::client;
        case Item::Kind::network: return list == ListKind::client;
        case Item::Kind::name: return list == ListKind::sasl;
    }
    return false;
}

std::string_view expected_items(ListKind list) {
    switch (list) {
        case ListKind::sender: return "user@domain, @domain, @.domain, <>, *, %group";
        case ListKind::recipient: return "user@domain, @domain, @.domain, *, %group";
        case ListKind::client: return "an IP address, a CIDR network, *, %group";
        case ListKind::sasl: return "a user name, @domain, @.domain, *, %group";
    }
    return "";
}

struct PositionedItem {
    Item item;
    TextPosition position;
};

struct GroupDefinition {
    TextPosition position;  // of the key
    std::vector<PositionedItem> items;
    bool valid = true;
};

struct Defaults {
    std::optional<Verdict> verdict;
    TextPosition verdict_position;
    std::optional<Mode> mode;
    std::optional<std::string> reply;
    std::optional<std::string> code;
    TextPosition code_position;
    std::optional<std::string> xcode;
    TextPosition xcode_position;
};

class Loader {
public:
    explicit Loader(std::string file) : file_(std::move(file)) {}

    LoadResult load(std::string_view text) {
        text_ = text;
        auto parsed = parse_json_with_positions(text);
        if (auto* syntax = std::get_if<JsonSyntaxError>(&parsed)) {
            error(syntax->position, "JSON syntax error: " + syntax->message);
            return finish();
        }
        rules_.source = file_;
        load_top(std::get<JsonValue>(parsed));
        return finish();
    }

private:
    std::string file_;
    std::string_view text_;  // the file, to place errors inside a string (a regex)
    std::vector<Diagnostic> errors_;
    RuleSet rules_;
    std::map<std::string, GroupDefinition> groups_;
    Defaults defaults_;

    void error(TextPosition where, std::string message) {
        errors_.push_back(Diagnostic{file_, where.line, where.column, std::move(message)});
    }

    LoadResult finish() {
        if (errors_.empty()) return std::move(rules_);
        std::stable_sort(errors_.begin(), errors_.end(), [](const Diagnostic& a, const Diagnostic& b) {
            return std::tie(a.line, a.column) < std::tie(b.line, b.column);
        });
        errors_.erase(std::unique(errors_.begin(), errors_.end(),
                                  [](const Diagnostic& a, const Diagnostic& b) {
                                      return a.line == b.line && a.column == b.column && a.message == b.message;
                                  }),
                      errors_.end());
        return std::move(errors_);
    }

    // ---- generic checks ---------------------------------------------------

    bool expect_kind(const JsonValue& value, Kind kind, std::string_view what) {
        if (value.kind == kind) return true;
        JsonValue wanted;
        wanted.kind = kind;
        error(value.position, std::string(what) + ": expected " + std::string(wanted.kind_name()) + ", got " +
                                  std::string(value.kind_name()));
        return false;
    }

    // Reports unknown and duplicate keys; returns false for a key to skip.
    template <typename Keys>
    bool accept_key(const JsonMember& member, const Keys& known, std::string_view where, std::set<std::string>& seen) {
        if (!contains(known, member.key)) {
            std::string message = "unknown key " + in_quotes(member.key) + " in " + std::string(where);
            std::string_view best;
            std::size_t best_distance = 3;
            for (std::string_view key : known) {
                const std::size_t distance = edit_distance(member.key, key);
                if (distance < best_distance) {
                    best_distance = distance;
                    best = key;
                }
            }
            if (!best.empty()) {
                message += "; did you mean " + in_quotes(best) + "?";
                seen.insert("?" + std::string(best));  // a missing `best` is this same mistake: not reported twice
            }
            else message += " (expected one of: " + join(known) + ")";
            error(member.key_position, message);
            return false;
        }
        if (!seen.insert(member.key).second) {
            error(member.key_position, "duplicate key " + in_quotes(member.key) + " in " + std::string(where));
            return false;
        }
        return true;
    }

    std::optional<std::string> get_string(const JsonValue& value, std::string_view what) {
        if (!expect_kind(value, Kind::string, what)) return std::nullopt;
        return value.string;
    }

    // ---- top level --------------------------------------------------------

    void load_top(const JsonValue& root) {
        if (!expect_kind(root, Kind::object, "rule file")) return;
        std::set<std::string> seen;
        const JsonValue* version = nullptr;
        const JsonValue* groups = nullptr;
        const JsonValue* defaults = nullptr;
        const JsonValue* policies = nullptr;
        for (const auto& [member, value] : root.members) {
            if (!accept_key(member, keys::top_level, "the rule file", seen)) continue;
            if (member.key == "version") version = &value;
            else if (member.key == "groups") groups = &value;
            else if (member.key == "defaults") defaults = &value;
            else if (member.key == "policies") policies = &value;
            else if (member.key == "description") {
                if (auto text = get_string(value, "description")) rules_.description = *text;
            } else if (member.key == "$schema") {
                get_string(value, "$schema");
            }
        }
        if (!version && seen.count("?version")) {
            // reported as a misspelling already
        } else if (!version) {
            error(root.position, "missing key \"version\" (expected \"version\": 1)");
        } else if (version->kind != Kind::integer || version->integer != 1) {
            error(version->position, "version: expected 1 (the only version this quotamilter understands)");
        }
        if (groups) load_groups(*groups);
        if (defaults) load_defaults(*defaults);
        if (!policies && seen.count("?policies")) {
            // reported as a misspelling already
        } else if (!policies) {
            error(root.position, "missing key \"policies\" (expected a list of policies, may be empty)");
        } else {
            load_policies(*policies);
        }
    }

    // ---- groups -----------------------------------------------------------

    void load_groups(const JsonValue& value) {
        if (!expect_kind(value, Kind::object, "groups")) return;
        std::set<std::string> seen;
        for (const auto& [member, list] : value.members) {
            if (!is_valid_name(member.key)) {
                error(member.key_position, "invalid group name " + in_quotes(member.key) + " (expected 1 to 64 of A-Z a-z 0-9 _ . -)");
                continue;
            }
            if (!seen.insert(member.key).second) {
                error(member.key_position, "duplicate group " + in_quotes(member.key));
                continue;
            }
            GroupDefinition group;
            group.position = member.key_position;
            const std::string what = "group " + in_quotes(member.key);
            if (!expect_kind(list, Kind::array, what)) {
                group.valid = false;
                groups_[member.key] = std::move(group);
                continue;
            }
            for (const JsonValue& entry : list.items) {
                if (!expect_kind(entry, Kind::string, what + " item")) {
                    group.valid = false;
                    continue;
                }
                PositionedItem positioned{{}, entry.position};
                std::string problem;
                if (!classify_item(entry.string, positioned.item, problem)) {
                    error(entry.position, what + ": " + problem);
                    group.valid = false;
                    continue;
                }
                if (positioned.item.negated) {
                    error(entry.position, what + ": negation \"!" + positioned.item.text +
                                              "\" is only allowed in policy match lists, not inside groups");
                    group.valid = false;
                    continue;
                }
                group.items.push_back(std::move(positioned));
            }
            groups_[member.key] = std::move(group);
        }
        check_group_references();
    }

    void check_group_references() {
        // Undefined references first, then cycles (depth-first, colouring).
        for (auto& [name, group] : groups_) {
            for (const PositionedItem& entry : group.items) {
                if (entry.item.kind == Item::Kind::group && !groups_.count(entry.item.name)) {
                    error(entry.position, "group " + in_quotes(name) + ": undefined group %" + entry.item.name);
                    group.valid = false;
                }
            }
        }
        enum class Colour { white, grey, black };
        std::map<std::string, Colour> colour;
        std::vector<std::string> path;
        std::function<void(const std::string&)> visit = [&](const std::string& name) {
            colour[name] = Colour::grey;
            path.push_back(name);
            GroupDefinition& group = groups_.at(name);
            for (const PositionedItem& entry : group.items) {
                if (entry.item.kind != Item::Kind::group || !groups_.count(entry.item.name)) continue;
                const Colour state = colour[entry.item.name];
                if (state == Colour::white && path.size() >= kMaxGroupDepth) {
                    // Bounded recursion here and in expand_group, whatever the file holds.
                    error(entry.position, "group " + in_quotes(name) + ": groups nested deeper than " +
                                              std::to_string(kMaxGroupDepth) + " levels");
                    for (const std::string& on_path : path) groups_.at(on_path).valid = false;
                    continue;
                }
                if (state == Colour::grey) {
                    std::string cycle;
                    auto start = std::find(path.begin(), path.end(), entry.item.name);
                    for (auto it = start; it != path.end(); ++it) cycle += "%" + *it + " -> ";
                    cycle += "%" + entry.item.name;
                    error(entry.position, "group " + in_quotes(name) + ": cyclic group reference " + cycle);
                    for (auto it = start; it != path.end(); ++it) groups_.at(*it).valid = false;
                } else if (state == Colour::white) {
                    visit(entry.item.name);
                }
            }
            path.pop_back();
            colour[name] = Colour::black;
        };
        for (const auto& [name, group] : groups_) colour[name] = Colour::white;
        for (const auto& [name, group] : groups_) {
            if (colour[name] == Colour::white) visit(name);
        }
    }

    // ---- defaults ---------------------------------------------------------

    std::optional<Mode> parse_mode(const JsonValue& value) {
        if (value.kind == Kind::string) {
            if (value.string == "enforce") return Mode::enforce;
            if (value.string == "monitor") return Mode::monitor;
        }
        error(value.position, "mode: expected \"enforce\" or \"monitor\"");
        return std::nullopt;
    }

    std::optional<Verdict> parse_quota_verdict(const JsonValue& value) {
        if (value.kind == Kind::string) {
            auto verdict = parse_verdict(value.string);
            if (verdict && *verdict != Verdict::tag) return verdict;
            if (verdict) {
                error(value.position, "verdict: \"tag\" is only for content rules; expected \"tempfail\", \"reject\", \"quarantine\" or \"discard\"");
                return std::nullopt;
            }
        }
        error(value.position, "verdict: expected \"tempfail\", \"reject\", \"quarantine\" or \"discard\"");
        return std::nullopt;
    }

    // `only_policy`: a content rule's reply, where only {policy} has a value.
    std::optional<std::string> parse_reply_text(const JsonValue& value, bool only_policy = false) {
        if (!expect_kind(value, Kind::string, "reply")) return std::nullopt;
        const std::string& text = value.string;
        bool ok = true;
        if (text.size() > kMaxReplyText) {
            error(value.position, "reply: text is " + std::to_string(text.size()) + " characters, expected at most 900");
            ok = false;
        }
        if (text.find_first_of("\r\n") != std::string::npos) {
            error(value.position, "reply: text must not contain CR or LF (one SMTP reply line)");
            ok = false;
        } else if (std::any_of(text.begin(), text.end(), [](char c) {
                       // RFC 5321 textstring: HT and printable; anything else could corrupt the reply
                       return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
                   })) {
            error(value.position, "reply: text must not contain control characters");
            ok = false;
        }
        static constexpr std::string_view kPlaceholders[] = {"policy", "track", "key", "count", "limit", "window", "retry_after"};
        for (std::size_t open = text.find('{'); open != std::string::npos; open = text.find('{', open + 1)) {
            const std::size_t close = text.find('}', open + 1);
            if (close == std::string::npos) break;
            const std::string_view name = std::string_view(text).substr(open + 1, close - open - 1);
            const bool word = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
            });
            if (word && only_policy && name != "policy") {
                error(value.position, "reply: placeholder {" + std::string(name) +
                                          "} has no value in a content rule's reply (only {policy}; the others belong to quotas)");
                ok = false;
            } else if (word && !contains(kPlaceholders, name)) {
                error(value.position, "reply: unknown placeholder {" + std::string(name) +
                                          "} (expected {policy} {track} {key} {count} {limit} {window} {retry_after})");
                ok = false;
            }
        }
        if (!ok) return std::nullopt;
        return text;
    }

    std::optional<std::string> parse_code(const JsonValue& value) {
        std::string text;
        if (value.kind == Kind::integer) text = std::to_string(value.integer);
        else if (value.kind == Kind::string) text = value.string;
        if (text.size() == 3 && (text[0] == '4' || text[0] == '5') && std::isdigit(static_cast<unsigned char>(text[1])) &&
            std::isdigit(static_cast<unsigned char>(text[2]))) {
            return text;
        }
        error(value.position, "code: expected an SMTP reply code 4XX or 5XX, e.g. \"451\" or \"550\"");
        return std::nullopt;
    }

    std::optional<std::string> parse_xcode(const JsonValue& value) {
        bool ok = value.kind == Kind::string;
        if (ok) {
            // class "." subject "." detail, RFC 3463: class 4 or 5, 1-3 digits each.
            const std::string& text = value.string;
            const std::size_t first = text.find('.');
            const std::size_t second = first == std::string::npos ? first : text.find('.', first + 1);
            auto digits = [](std::string_view part) {
                return !part.empty() && part.size() <= 3 &&
                       std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
            };
            ok = first == 1 && second != std::string::npos && (text[0] == '4' || text[0] == '5') &&
                 digits(std::string_view(text).substr(first + 1, second - first - 1)) &&
                 digits(std::string_view(text).substr(second + 1));
        }
        if (!ok) {
            error(value.position, "xcode: expected an enhanced status code 4.X.X or 5.X.X, e.g. \"4.7.1\"");
            return std::nullopt;
        }
        return value.string;
    }

    void load_defaults(const JsonValue& value) {
        if (!expect_kind(value, Kind::object, "defaults")) return;
        std::set<std::string> seen;
        for (const auto& [member, child] : value.members) {
            if (!accept_key(member, keys::defaults, "defaults", seen)) continue;
            if (member.key == "verdict") {
                defaults_.verdict = parse_quota_verdict(child);
                defaults_.verdict_position = child.position;
            } else if (member.key == "mode") {
                defaults_.mode = parse_mode(child);
            } else if (member.key == "reply") {
                defaults_.reply = parse_reply_text(child);
            } else if (member.key == "code") {
                defaults_.code = parse_code(child);
                defaults_.code_position = child.position;
            } else if (member.key == "xcode") {
                defaults_.xcode = parse_xcode(child);
                defaults_.xcode_position = child.position;
            }
        }
        check_codes_agree(defaults_.verdict.value_or(Verdict::tempfail), defaults_.code, defaults_.code_position,
                          defaults_.xcode, defaults_.xcode_position, "defaults");
    }

    // code/xcode must say the same as the verdict: 4xx for tempfail, 5xx for reject.
    void check_codes_agree(Verdict verdict, const std::optional<std::string>& code, TextPosition code_position,
                           const std::optional<std::string>& xcode, TextPosition xcode_position, std::string_view where) {
        auto check = [&](const std::optional<std::string>& value, TextPosition position, std::string_view key) {
            if (!value) return;
            if (verdict != Verdict::tempfail && verdict != Verdict::reject) {
                error(position, std::string(where) + ": " + std::string(key) + " " + in_quotes(*value) + " makes no sense with verdict " +
                                    in_quotes(to_string(verdict)) + " (the message is accepted; only tempfail and reject send a code)");
                return;
            }
            const char expected = verdict == Verdict::tempfail ? '4' : '5';
            if ((*value)[0] != expected) {
                error(position, std::string(where) + ": " + std::string(key) + " " + in_quotes(*value) + " disagrees with verdict " +
                                    in_quotes(to_string(verdict)) + " (expected " + expected + (key == "code" ? "XX)" : ".X.X)"));
            }
        };
        check(code, code_position, "code");
        check(xcode, xcode_position, "xcode");
    }

    void check_inherited_code(Verdict verdict, const std::string& value, std::string_view key, TextPosition verdict_position) {
        // quarantine/discard send no code: a default code simply does not concern them
        if (verdict != Verdict::tempfail && verdict != Verdict::reject) return;
        const char expected = verdict == Verdict::tempfail ? '4' : '5';
        if (value[0] == expected) return;
        error(verdict_position, "quota: verdict " + in_quotes(to_string(verdict)) + " disagrees with " + std::string(key) + " " +
                                    in_quotes(value) + " from defaults (set \"" + std::string(key) + "\" on this quota, expected " +
                                    expected + (key == "code" ? "XX)" : ".X.X)"));
    }

    // ---- policies ---------------------------------------------------------

    void load_policies(const JsonValue& value) {
        if (!expect_kind(value, Kind::array, "policies")) return;
        std::map<std::string, TextPosition> names;
        for (const JsonValue& entry : value.items) {
            Policy policy;
            policy.file_order = rules_.policies.size();
            if (!load_policy(entry, policy, names)) continue;
            rules_.policies.push_back(std::move(policy));
        }
        std::stable_sort(rules_.policies.begin(), rules_.policies.end(), [](const Policy& a, const Policy& b) {
            return std::tie(a.priority, a.file_order) < std::tie(b.priority, b.file_order);
        });
    }

    bool load_policy(const JsonValue& value, Policy& policy, std::map<std::string, TextPosition>& names) {
        if (!expect_kind(value, Kind::object, "policy")) return false;
        const std::size_t errors_before = errors_.size();
        std::set<std::string> seen;
        const JsonValue* exempt = nullptr;
        const JsonValue* quotas = nullptr;
        ContentRuleKeys content;
        policy.mode = defaults_.mode.value_or(Mode::enforce);
        for (const auto& [member, child] : value.members) {
            if (!accept_key(member, keys::policy, "policy", seen)) continue;
            if (member.key == "name") {
                if (!expect_kind(child, Kind::string, "name")) continue;
                if (!is_valid_name(child.string)) {
                    error(child.position, "name: " + in_quotes(child.string) + " is not a valid policy name (expected 1 to 64 of A-Z a-z 0-9 _ . -)");
                    continue;
                }
                auto [previous, inserted] = names.emplace(child.string, child.position);
                if (!inserted) {
                    error(child.position, "name: duplicate policy name " + in_quotes(child.string) + " (first used at line " +
                                              std::to_string(previous->second.line) + ")");
                }
                policy.name = child.string;
            } else if (member.key == "priority") {
                if (child.kind != Kind::integer || child.integer < 0 || child.integer > kMaxPriority) {
                    error(child.position, "priority: expected an integer from 0 to 1000000");
                    continue;
                }
                policy.priority = static_cast<int>(child.integer);
            } else if (member.key == "description") {
                if (auto text = get_string(child, "description")) policy.description = *text;
            } else if (member.key == "match") {
                load_match(child, policy);
            } else if (member.key == "exempt") {
                if (expect_kind(child, Kind::boolean, "exempt")) exempt = &child;
                else seen.insert("?exempt");
            } else if (member.key == "mode") {
                if (auto mode = parse_mode(child)) policy.mode = *mode;
            } else if (member.key == "quotas") {
                quotas = &child;
            } else if (member.key == "verdict") {
                content.verdict = &child;
            } else if (member.key == "reply") {
                content.reply = &child;
                content.reply_key = member.key_position;
            } else if (member.key == "code") {
                content.code = &child;
                content.code_key = member.key_position;
            } else if (member.key == "xcode") {
                content.xcode = &child;
                content.xcode_key = member.key_position;
            } else if (member.key == "tag_header") {
                content.tag_header = &child;
                content.tag_header_key = member.key_position;
            }
        }
        if (!seen.count("name") && !seen.count("?name")) error(value.position, "policy: missing key \"name\"");
        const bool is_exempt = exempt && exempt->boolean;
        if (is_exempt && quotas) {
            error(quotas->position, "policy " + in_quotes(policy.name) + ": has both \"exempt\": true and \"quotas\" (expected one of them)");
        } else if (content.verdict && (is_exempt || quotas)) {
            error(content.verdict->position, "policy " + in_quotes(policy.name) + ": has \"verdict\" and " +
                                                 (quotas ? "\"quotas\"" : "\"exempt\": true") +
                                                 " (expected exactly one of quotas, exempt, verdict)");
        } else if (!is_exempt && !quotas && !content.verdict && !seen.count("?quotas") && !seen.count("?exempt") &&
                   !seen.count("?verdict")) {
            error(value.position, "policy " + in_quotes(policy.name) + ": expected \"quotas\", \"exempt\": true or \"verdict\"");
        }
        policy.exempt = is_exempt;
        if (quotas && !is_exempt) load_quotas(*quotas, policy);
        load_content_rule(content, policy);
        if (!policy.match) policy.match = std::make_shared<PolicyMatch>();
        return errors_.size() == errors_before;
    }

    // The keys of a content rule (a policy with its own verdict).
    struct ContentRuleKeys {
        const JsonValue* verdict = nullptr;
        const JsonValue* reply = nullptr;
        const JsonValue* code = nullptr;
        const JsonValue* xcode = nullptr;
        const JsonValue* tag_header = nullptr;
        TextPosition reply_key, code_key, xcode_key, tag_header_key;
    };

    void load_content_rule(const ContentRuleKeys& content, Policy& policy) {
        std::optional<Verdict> verdict;
        if (content.verdict) {
            if (content.verdict->kind == Kind::string) verdict = parse_verdict(content.verdict->string);
            if (!verdict) {
                error(content.verdict->position,
                      "verdict: expected \"reject\", \"tempfail\", \"quarantine\", \"discard\" or \"tag\"");
            }
        }
        // reply, code, xcode and tag_header belong to a verdict.
        const std::pair<const JsonValue*, TextPosition> dependents[] = {
            {content.reply, content.reply_key}, {content.code, content.code_key},
            {content.xcode, content.xcode_key}, {content.tag_header, content.tag_header_key}};
        const char* dependent_names[] = {"reply", "code", "xcode", "tag_header"};
        if (!content.verdict) {
            for (std::size_t i = 0; i < 4; ++i) {
                if (!dependents[i].first) continue;
                error(dependents[i].second, std::string("policy key \"") + dependent_names[i] +
                                                "\" needs a policy \"verdict\" (a content rule); for a quota, put it on the quota");
            }
            return;
        }
        if (!verdict) return;
        policy.verdict = verdict;
        std::optional<std::string> code, xcode;
        if (content.code) code = parse_code(*content.code);
        if (content.xcode) xcode = parse_xcode(*content.xcode);
        check_codes_agree(*verdict, code, content.code ? content.code->position : TextPosition{}, xcode,
                          content.xcode ? content.xcode->position : TextPosition{}, "policy");
        const bool replies = *verdict == Verdict::reject || *verdict == Verdict::tempfail;
        if (content.reply) {
            if (!replies) {
                error(content.reply_key, "policy: \"reply\" makes no sense with verdict " + in_quotes(to_string(*verdict)) +
                                             " (the message is accepted; only tempfail and reject send a reply)");
            } else if (auto text = parse_reply_text(*content.reply, true)) {
                policy.reply.text = *text;
            }
        }
        if (replies) {
            policy.reply.code = code;
            policy.reply.xcode = xcode;
        }
        policy.tag_header_name = "X-Quota-Policy";
        policy.tag_header_value = policy.name;
        if (content.tag_header) {
            if (*verdict != Verdict::tag) {
                error(content.tag_header_key, "policy: \"tag_header\" only goes with \"verdict\": \"tag\"");
            } else {
                load_tag_header(*content.tag_header, policy);
            }
        }
    }

    // "Name: value", or "Name" alone (the value is then the policy name).
    void load_tag_header(const JsonValue& value, Policy& policy) {
        if (!expect_kind(value, Kind::string, "tag_header")) return;
        const std::string& text = value.string;
        const std::size_t colon = text.find(':');
        const std::string name = text.substr(0, colon);
        std::string header_value = policy.name;
        if (colon != std::string::npos) {
            const std::size_t start = text.find_first_not_of(" \t", colon + 1);
            header_value = start == std::string::npos ? std::string() : text.substr(start);
        }
        if (!is_valid_header_name(name)) {
            error(value.position, "tag_header: expected \"Name: value\" or \"Name\" with a header name of 1 to 128 "
                                  "printable characters, no ':' or blank (e.g. \"X-Quota-Policy: bulk\")");
            return;
        }
        if (header_value.empty() || header_value.size() > kMaxReplyText ||
            std::any_of(header_value.begin(), header_value.end(), [](char c) {
                return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
            })) {
            error(value.position, "tag_header: the value must be 1 to 900 characters without CR, LF or other control characters");
            return;
        }
        policy.tag_header_name = name;
        policy.tag_header_value = header_value;
    }

    // The line and column of the character of string `value` (a JSON string
    // in the file) where its decoded text reaches byte `decoded_offset`:
    // escapes like \\ count once in the text, twice in the file.
    TextPosition position_inside_string(TextPosition opening_quote, std::size_t decoded_offset) const {
        std::size_t offset = 0;
        for (int line = 1; line < opening_quote.line && offset < text_.size(); ++offset) {
            if (text_[offset] == '\n') ++line;
        }
        if (opening_quote.line == 1 && text_.substr(0, 3) == "\xEF\xBB\xBF") offset += 3;  // the parser skips a BOM
        offset += static_cast<std::size_t>(opening_quote.column - 1) + 1;  // past the quote
        TextPosition here{opening_quote.line, opening_quote.column + 1};
        std::size_t decoded = 0;
        while (offset < text_.size() && text_[offset] != '"' && decoded < decoded_offset) {
            std::size_t raw = 1, produced = 1;
            if (text_[offset] == '\\' && offset + 1 < text_.size()) {
                raw = 2;
                if (text_[offset + 1] == 'u' && offset + 6 <= text_.size()) {
                    raw = 6;
                    const unsigned long unit = std::strtoul(std::string(text_.substr(offset + 2, 4)).c_str(), nullptr, 16);
                    produced = unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
                    if (unit >= 0xD800 && unit <= 0xDBFF) {
                        raw = 12;  // a surrogate pair: one 4-byte character
                        produced = 4;
                    }
                }
            }
            offset += raw;
            here.column += static_cast<int>(raw);
            decoded += produced;
        }
        return here;
    }

    void load_header_conditions(const JsonValue& value, PolicyMatch& match) {
        if (!expect_kind(value, Kind::array, "match.header")) return;
        if (value.items.empty()) {
            error(value.position, "match.header: expected at least one condition such as {\"name\": \"From\", \"regex\": \"...\"}");
            return;
        }
        if (value.items.size() > kMaxHeaderConditions) {
            error(value.position, "match.header: more than " + std::to_string(kMaxHeaderConditions) + " conditions in one policy");
            return;
        }
        for (const JsonValue& entry : value.items) {
            HeaderCondition condition;
            if (load_header_condition(entry, condition)) match.headers.push_back(std::move(condition));
        }
    }

    bool load_header_condition(const JsonValue& value, HeaderCondition& condition) {
        if (!expect_kind(value, Kind::object, "match.header condition")) return false;
        const std::size_t errors_before = errors_.size();
        std::set<std::string> seen;
        const JsonValue* regex = nullptr;
        const JsonValue* absent = nullptr;
        for (const auto& [member, child] : value.members) {
            if (!accept_key(member, keys::header_condition, "match.header condition", seen)) continue;
            if (member.key == "name") {
                if (!expect_kind(child, Kind::string, "match.header name")) continue;
                if (!is_valid_header_name(child.string)) {
                    error(child.position, "match.header name: " + in_quotes(child.string) +
                                              " is not a header name (1 to 128 printable characters, no ':' or blank)");
                    continue;
                }
                condition.name_as_written = child.string;
                condition.name = lower_ascii(child.string);
            } else if (member.key == "regex") {
                if (expect_kind(child, Kind::string, "match.header regex")) regex = &child;
            } else if (member.key == "absent") {
                if (!expect_kind(child, Kind::boolean, "match.header absent")) continue;
                if (!child.boolean) {
                    error(child.position, "match.header absent: only \"absent\": true makes sense (for \"present\", "
                                          "use \"regex\": \"\" or \"absent\": true with \"negate\": true)");
                    continue;
                }
                absent = &child;
            } else if (member.key == "negate") {
                if (expect_kind(child, Kind::boolean, "match.header negate")) condition.negate = child.boolean;
            }
        }
        if (!seen.count("name") && !seen.count("?name")) {
            error(value.position, "match.header condition: missing key \"name\" (the header name, e.g. \"From\")");
        }
        if (regex && absent) {
            error(absent->position, "match.header condition: \"regex\" and \"absent\" together (expected one of them)");
        } else if (!regex && !absent && !seen.count("?regex") && !seen.count("?absent") && !seen.count("regex") &&
                   !seen.count("absent")) {
            error(value.position, "match.header condition: expected \"regex\": \"...\" or \"absent\": true");
        }
        condition.absent = absent != nullptr;
        if (regex && !absent) {
            condition.regex_text = regex->string;
            if (regex->string.size() > kMaxRegexLength) {
                error(regex->position, "match.header regex: " + std::to_string(regex->string.size()) +
                                           " characters, expected at most " + std::to_string(kMaxRegexLength));
            } else {
                CompiledRegex compiled = compile_header_regex(regex->string);
                if (!compiled.regex) {
                    std::size_t at = compiled.error_fragment.empty() ? std::string::npos
                                                                     : regex->string.find(compiled.error_fragment);
                    TextPosition where = regex->position;
                    if (at != std::string::npos) where = position_inside_string(regex->position, at);
                    error(where, "match.header regex: RE2 rejects it: " + compiled.error +
                                     " (RE2 syntax: no backreferences or lookaround; (?i) for case-insensitive)");
                } else {
                    condition.regex = std::move(compiled.regex);
                }
            }
        }
        return errors_.size() == errors_before;
    }

    void load_match(const JsonValue& value, Policy& policy) {
        auto match = std::make_shared<PolicyMatch>();
        if (expect_kind(value, Kind::object, "match")) {
            std::set<std::string> seen;
            for (const auto& [member, child] : value.members) {
                if (!accept_key(member, keys::match, "match", seen)) continue;
                if (member.key == "sender") compile_list(child, ListKind::sender, match->sender);
                else if (member.key == "recipient") compile_list(child, ListKind::recipient, match->recipient);
                else if (member.key == "client") compile_list(child, ListKind::client, match->client);
                else if (member.key == "sasl") compile_list(child, ListKind::sasl, match->sasl);
                else if (member.key == "header") load_header_conditions(child, *match);
            }
        }
        policy.match = std::move(match);
    }

    void add_to_set(ItemSet& set, const Item& item, const std::string& origin) {
        switch (item.kind) {
            case Item::Kind::any: set.add_any(origin); break;
            case Item::Kind::null_sender: set.add_null_sender(origin); break;
            case Item::Kind::address: set.add_address(item.address, origin); break;
            case Item::Kind::domain: set.add_domain(item.domain, origin); break;
            case Item::Kind::subdomains: set.add_subdomains(item.domain, origin); break;
            case Item::Kind::network: set.add_network(item.network, origin); break;
            case Item::Kind::name: set.add_name(item.name, origin); break;
            case Item::Kind::group: break;
        }
    }

    // SASL names are compared as written (lower case): "user+x@d" is a
    // different login from "user@d", unlike envelope addresses.
    void add_to_list_set(ListKind list, ItemSet& set, const Item& item, const std::string& origin) {
        if (list == ListKind::sasl && item.kind == Item::Kind::address) {
            set.add_name(item.name, origin);
            return;
        }
        add_to_set(set, item, origin);
    }

    // Adds the members of group `name` (recursively) to `set`, reporting at
    // `reference` any member that cannot match in this kind of list.
    void expand_group(const std::string& name, ListKind list, ItemSet& set, const std::string& origin,
                      TextPosition reference, std::set<std::string>& visiting) {
        auto found = groups_.find(name);
        if (found == groups_.end() || !found->second.valid || visiting.size() > kMaxGroupDepth ||
            !visiting.insert(name).second) {
            return;  // invalid groups were reported where they are defined
        }
        for (const PositionedItem& entry : found->second.items) {
            if (entry.item.kind == Item::Kind::group) {
                expand_group(entry.item.name, list, set, origin, reference, visiting);
                continue;
            }
            if (!item_fits(list, entry.item.kind)) {
                error(reference, "match." + std::string(list_name(list)) + ": " + origin + " includes " + in_quotes(entry.item.text) +
                                     " (group " + in_quotes(name) + ", line " + std::to_string(entry.position.line) + "), which is " +
                                     std::string(kind_name(entry.item.kind)) + " and can never match a " +
                                     std::string(list_name(list)));
                continue;
            }
            add_to_list_set(list, set, entry.item, origin);
        }
        visiting.erase(name);
    }

    void compile_list(const JsonValue& value, ListKind list, MatchList& out) {
        const std::string what = "match." + std::string(list_name(list));
        out.present = true;
        if (!expect_kind(value, Kind::array, what)) return;
        out.text = "[";
        for (const JsonValue& entry : value.items) {
            if (!expect_kind(entry, Kind::string, what + " item")) continue;
            if (out.text.size() > 1) out.text += ", ";
            out.text += entry.string;
            Item item;
            std::string problem;
            if (!classify_item(entry.string, item, problem)) {
                error(entry.position, what + ": " + problem);
                continue;
            }
            ItemSet& set = item.negated ? out.negative : out.positive;
            if (!item.negated) out.has_positive = true;
            if (item.kind == Item::Kind::group) {
                auto group = groups_.find(item.name);
                if (group == groups_.end()) {
                    error(entry.position, what + ": undefined group %" + item.name);
                } else if (group->second.valid) {
                    std::set<std::string> visiting;
                    expand_group(item.name, list, set, "%" + item.name, entry.position, visiting);
                }
                continue;
            }
            if (!item_fits(list, item.kind)) {
                std::string message = what + ": " + in_quotes(item.text) + " is " + std::string(kind_name(item.kind)) +
                                      ", not a " + std::string(list_name(list)) + " item (expected " +
                                      std::string(expected_items(list)) + ")";
                if (item.kind == Item::Kind::name && item.text.find('.') != std::string::npos) {
                    message += "; did you mean \"@" + item.text + "\"?";
                }
                error(entry.position, message);
                continue;
            }
            add_to_list_set(list, set, item, item.text);
        }
        out.text += "]";
    }

    // ---- quotas -----------------------------------------------------------

    void load_quotas(const JsonValue& value, Policy& policy) {
        if (!expect_kind(value, Kind::array, "quotas")) return;
        if (value.items.empty()) {
            error(value.position, "quotas: expected at least one quota (or \"exempt\": true)");
            return;
        }
        // (track label, unit, window) -> position of the first quota: they would share a counter.
        std::map<std::tuple<std::string, Unit, std::int64_t>, TextPosition> counters;
        for (const JsonValue& entry : value.items) {
            Quota quota;
            if (!load_quota(entry, quota)) continue;
            std::string label = quota.track_label();
            if (quota.track == Track::client_net) label += "/" + std::to_string(quota.prefix_v4) + "/" + std::to_string(quota.prefix_v6);
            auto [previous, inserted] = counters.emplace(std::make_tuple(label, quota.unit, quota.window.count()), entry.position);
            if (!inserted) {
                error(entry.position, "quota: same track " + in_quotes(quota.track_label()) + ", unit " + in_quotes(to_string(quota.unit)) +
                                          " and window " + format_duration(quota.window) + " as the quota at line " +
                                          std::to_string(previous->second.line) + " (they would share one counter)");
                continue;
            }
            policy.quotas.push_back(std::move(quota));
        }
    }

    std::optional<std::uint64_t> parse_limit(const JsonValue& value, std::string_view key) {
        if (value.kind == Kind::integer) {
            if (value.integer >= 1 && static_cast<std::uint64_t>(value.integer) <= kMaxLimit) {
                return static_cast<std::uint64_t>(value.integer);
            }
        } else if (key == "bytes" && value.kind == Kind::string) {
            if (auto size = parse_size(value.string); size && *size >= 1 && *size <= kMaxLimit) return size;
            error(value.position, "bytes: expected a positive size such as 10485760, \"10MB\" or \"1GiB\" (at most 2^53-1 bytes)");
            return std::nullopt;
        }
        error(value.position, std::string(key) + ": expected a positive integer (1 to 2^53-1)" +
                                  (key == "bytes" ? std::string(" or a size such as \"10MB\"") : std::string()));
        return std::nullopt;
    }

    std::optional<std::chrono::seconds> parse_window(const JsonValue& value) {
        std::optional<std::chrono::seconds> window;
        if (value.kind == Kind::integer) window = std::chrono::seconds(value.integer);
        else if (value.kind == Kind::string) window = parse_duration(value.string);
        if (!window) {
            error(value.position, "window: expected a duration such as \"90s\", \"30m\", \"1h\", \"1d\", \"1w\" or integer seconds");
            return std::nullopt;
        }
        if (window->count() < 1 || window->count() > kMaxWindowSeconds) {
            error(value.position, "window: " + (value.kind == Kind::string ? value.string : std::to_string(value.integer)) +
                                      " is out of range (expected 1s to 31d)");
            return std::nullopt;
        }
        return window;
    }

    bool load_quota(const JsonValue& value, Quota& quota) {
        if (!expect_kind(value, Kind::object, "quota")) return false;
        const std::size_t errors_before = errors_.size();
        std::set<std::string> seen;
        const JsonValue* limit_value = nullptr;
        std::string limit_key;
        const JsonValue* prefix_v4 = nullptr;
        const JsonValue* prefix_v6 = nullptr;
        const JsonValue* verdict_value = nullptr;
        std::optional<std::string> code, xcode;
        TextPosition code_position, xcode_position;
        bool has_track = false, has_window = false;
        for (const auto& [member, child] : value.members) {
            if (!accept_key(member, keys::quota, "quota", seen)) continue;
            if (member.key == "track") {
                has_track = true;
                if (!expect_kind(child, Kind::string, "track")) continue;
                if (auto track = parse_track(child.string)) {
                    quota.track = *track;
                } else if (child.string.rfind("header:", 0) == 0) {
                    const std::string name = child.string.substr(7);
                    if (!is_valid_header_name(name)) {
                        error(child.position, "track: " + in_quotes(child.string) +
                                                  ": expected a header name after \"header:\" (1 to 128 printable characters, no ':' or blank), "
                                                  "e.g. \"header:From\"");
                    } else {
                        quota.track = Track::header;
                        quota.header_name = lower_ascii(name);
                    }
                } else {
                    error(child.position, "track: expected one of sender, sender_domain, sasl_user, client_ip, client_net, "
                                          "recipient, recipient_domain, policy, header:NAME; got " + in_quotes(child.string));
                }
            } else if (member.key == "messages" || member.key == "recipients" || member.key == "bytes") {
                if (limit_value) {
                    error(member.key_position, "quota: " + in_quotes(member.key) + " and " + in_quotes(limit_key) +
                                                   " together (expected exactly one of messages, recipients, bytes; use two quotas)");
                    continue;
                }
                limit_value = &child;
                limit_key = member.key;
                quota.unit = member.key == "messages" ? Unit::messages : member.key == "recipients" ? Unit::recipients : Unit::bytes;
                if (auto limit = parse_limit(child, member.key)) quota.limit = *limit;
            } else if (member.key == "window") {
                has_window = true;
                if (auto window = parse_window(child)) quota.window = *window;
            } else if (member.key == "verdict") {
                verdict_value = &child;
                if (auto verdict = parse_quota_verdict(child)) quota.verdict = *verdict;
            } else if (member.key == "reply") {
                if (auto text = parse_reply_text(child)) quota.reply.text = *text;
            } else if (member.key == "code") {
                code = parse_code(child);
                code_position = child.position;
            } else if (member.key == "xcode") {
                xcode = parse_xcode(child);
                xcode_position = child.position;
            } else if (member.key == "description") {
                if (auto text = get_string(child, "description")) quota.description = *text;
            } else if (member.key == "prefix_v4") {
                prefix_v4 = &child;
                if (child.kind == Kind::integer && child.integer >= 1 && child.integer <= 32) quota.prefix_v4 = static_cast<int>(child.integer);
                else error(child.position, "prefix_v4: expected an integer from 1 to 32");
            } else if (member.key == "prefix_v6") {
                prefix_v6 = &child;
                if (child.kind == Kind::integer && child.integer >= 1 && child.integer <= 128) quota.prefix_v6 = static_cast<int>(child.integer);
                else error(child.position, "prefix_v6: expected an integer from 1 to 128");
            }
        }
        if (!has_track && !seen.count("?track")) error(value.position, "quota: missing key \"track\" (e.g. \"track\": \"sender\")");
        if (!limit_value && !seen.count("?messages") && !seen.count("?recipients") && !seen.count("?bytes")) error(value.position, "quota: missing limit (expected exactly one of messages, recipients, bytes)");
        if (!has_window && !seen.count("?window")) error(value.position, "quota: missing key \"window\" (e.g. \"window\": \"1h\")");
        for (const JsonValue* prefix : {prefix_v4, prefix_v6}) {
            if (prefix && has_track && quota.track != Track::client_net) {
                error(prefix->position, "quota: prefix_v4/prefix_v6 only apply to \"track\": \"client_net\"");
            }
        }

        // Defaults fill what the quota leaves open.
        if (!verdict_value && defaults_.verdict) quota.verdict = *defaults_.verdict;
        if (!quota.reply.text && defaults_.reply) quota.reply.text = defaults_.reply;
        const bool verdict_ok = verdict_value && errors_.size() == errors_before;
        check_codes_agree(quota.verdict, code, code_position, xcode, xcode_position, "quota");
        if (!code && defaults_.code) {
            code = defaults_.code;
            // defaults vs defaults was checked once; only this quota's own verdict can disagree here
            if (verdict_ok) check_inherited_code(quota.verdict, *code, "code", verdict_value->position);
        }
        if (!xcode && defaults_.xcode) {
            xcode = defaults_.xcode;
            if (verdict_ok) check_inherited_code(quota.verdict, *xcode, "xcode", verdict_value->position);
        }
        if (quota.verdict == Verdict::tempfail || quota.verdict == Verdict::reject) {
            quota.reply.code = code;
            quota.reply.xcode = xcode;
        }
        return errors_.size() == errors_before;
    }
};

}  // namespace

LoadResult load_rules_text(std::string_view text, const std::string& file_name) {
    LoadResult result = Loader(file_name).load(text);
    if (auto* rules = std::get_if<RuleSet>(&result)) assign_verdict_stages(*rules);
    return result;
}

LoadResult load_rules_file(const std::string& path) {
    std::error_code ignored;
    if (std::filesystem::is_directory(path, ignored)) {
        return std::vector<Diagnostic>{Diagnostic{path, 0, 0, "cannot read: is a directory"}};
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::vector<Diagnostic>{Diagnostic{path, 0, 0, std::string("cannot open: ") + std::strerror(errno)}};
    }
    std::ostringstream content;
    content << in.rdbuf();
    if (in.bad()) return std::vector<Diagnostic>{Diagnostic{path, 0, 0, "cannot read the file"}};
    return load_rules_text(content.str(), path);
}

}  // namespace quotamilter::rules
