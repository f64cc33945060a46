// Groups: "groups" names lists of items that match lists use as %name.
// Checks each definition (valid name, no duplicate, items that classify, no
// negation inside a group), then every reference between groups (defined,
// no cycle, nested at most kMaxGroupDepth levels); a group that fails any
// of this is marked invalid and expands to nothing. Expands a group into a
// match list, reporting members that can never match in that kind of list.
#include "rules/load_context.h"

#include <algorithm>
#include <functional>

namespace quotamilter::rules::load_internal {

namespace {

// Bounded recursion in check_cycles and expand_group, whatever the file holds.
constexpr std::size_t kMaxGroupDepth = 32;

GroupDefinition read_group(LoadContext& context, const JsonMember& member, const JsonValue& list) {
    GroupDefinition group;
    group.position = member.key_position;
    const std::string what = "group " + in_quotes(member.key);
    if (!context.expect_kind(list, Kind::array, what)) {
        group.valid = false;
        return group;
    }
    for (const JsonValue& entry : list.items) {
        if (!context.expect_kind(entry, Kind::string, what + " item")) {
            group.valid = false;
            continue;
        }
        PositionedItem positioned{{}, entry.position};
        std::string problem;
        if (!classify_item(entry.string, positioned.item, problem)) {
            context.error(entry.position, what + ": " + problem);
            group.valid = false;
            continue;
        }
        if (positioned.item.negated) {
            context.error(entry.position, what + ": negation \"!" + positioned.item.text +
                                              "\" is only allowed in policy match lists, not inside groups");
            group.valid = false;
            continue;
        }
        group.items.push_back(std::move(positioned));
    }
    return group;
}

void check_undefined_references(LoadContext& context) {
    for (auto& [name, group] : context.groups) {
        for (const PositionedItem& entry : group.items) {
            if (entry.item.kind == Item::Kind::group && !context.groups.count(entry.item.name)) {
                context.error(entry.position, "group " + in_quotes(name) + ": undefined group %" + entry.item.name);
                group.valid = false;
            }
        }
    }
}

// Depth-first, colouring: a grey group met again closes a cycle.
void check_cycles(LoadContext& context) {
    auto& groups = context.groups;
    enum class Colour { white, grey, black };
    std::map<std::string, Colour> colour;
    std::vector<std::string> path;
    std::function<void(const std::string&)> visit = [&](const std::string& name) {
        colour[name] = Colour::grey;
        path.push_back(name);
        GroupDefinition& group = groups.at(name);
        for (const PositionedItem& entry : group.items) {
            if (entry.item.kind != Item::Kind::group || !groups.count(entry.item.name)) continue;
            const Colour state = colour[entry.item.name];
            if (state == Colour::white && path.size() >= kMaxGroupDepth) {
                context.error(entry.position, "group " + in_quotes(name) + ": groups nested deeper than " +
                                                  std::to_string(kMaxGroupDepth) + " levels");
                for (const std::string& on_path : path) groups.at(on_path).valid = false;
                continue;
            }
            if (state == Colour::grey) {
                std::string cycle;
                auto start = std::find(path.begin(), path.end(), entry.item.name);
                for (auto it = start; it != path.end(); ++it) cycle += "%" + *it + " -> ";
                cycle += "%" + entry.item.name;
                context.error(entry.position, "group " + in_quotes(name) + ": cyclic group reference " + cycle);
                for (auto it = start; it != path.end(); ++it) groups.at(*it).valid = false;
            } else if (state == Colour::white) {
                visit(entry.item.name);
            }
        }
        path.pop_back();
        colour[name] = Colour::black;
    };
    for (const auto& [name, group] : groups) colour[name] = Colour::white;
    for (const auto& [name, group] : groups) {
        if (colour[name] == Colour::white) visit(name);
    }
}

}  // namespace

void load_groups(LoadContext& context, const JsonValue& value) {
    if (!context.expect_kind(value, Kind::object, "groups")) return;
    std::set<std::string> seen;
    for (const auto& [member, list] : value.members) {
        if (!is_valid_name(member.key)) {
            context.error(member.key_position,
                          "invalid group name " + in_quotes(member.key) + " (expected 1 to 64 of A-Z a-z 0-9 _ . -)");
            continue;
        }
        if (!seen.insert(member.key).second) {
            context.error(member.key_position, "duplicate group " + in_quotes(member.key));
            continue;
        }
        context.groups[member.key] = read_group(context, member, list);
    }
    // Undefined references first, then cycles.
    check_undefined_references(context);
    check_cycles(context);
}

void expand_group(LoadContext& context, const std::string& name, ListKind list, ItemSet& set, const std::string& origin,
                  TextPosition reference, std::set<std::string>& visiting) {
    auto found = context.groups.find(name);
    if (found == context.groups.end() || !found->second.valid || visiting.size() > kMaxGroupDepth ||
        !visiting.insert(name).second) {
        return;  // invalid groups were reported where they are defined
    }
    for (const PositionedItem& entry : found->second.items) {
        if (entry.item.kind == Item::Kind::group) {
            expand_group(context, entry.item.name, list, set, origin, reference, visiting);
            continue;
        }
        if (!item_fits(list, entry.item.kind)) {
            context.error(reference, "match." + std::string(list_name(list)) + ": " + origin + " includes " +
                                         in_quotes(entry.item.text) + " (group " + in_quotes(name) + ", line " +
                                         std::to_string(entry.position.line) + "), which is " +
                                         std::string(kind_name(entry.item.kind)) + " and can never match a " +
                                         std::string(list_name(list)));
            continue;
        }
        add_to_list_set(list, set, entry.item, origin);
    }
    visiting.erase(name);
}

}  // namespace quotamilter::rules::load_internal
