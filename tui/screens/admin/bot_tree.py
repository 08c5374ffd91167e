"""The Bot tab's middle column: a number's flow as a Textual Tree, one node per thing the bot says
or does, each bot text labelled with its live segment count (the customer pays per segment).

The tree only shows; the keys (enter edit, a add, d delete, space on/off) ask the pane,
which owns the flow and the relay.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from core.bot_flow import Flow, Option, Question, Say
from core.sms import analyze
from tui.screens.admin.bot_edits import NodeRef

SHORT = 44


def cost(text: str) -> str:
    """What a bot text costs the customer: "2 segments · GSM-7"."""
    found = analyze(text)
    return f"{found.segments} segment{'' if found.segments == 1 else 's'} · {found.encoding}"


def short(text: str, width: int = SHORT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def say_label(title: str, say: Say | None) -> Text:
    """``title: text…  (1 segment · GSM-7, 📎 2)``; a missing text is named, not blank."""
    label = Text(f"{title}: ", style="bold")
    if say is None or not (say.text or say.video_url or say.attachments):
        label.append("(none)", style="dim")
        return label
    label.append(short(say.as_sent()))
    extra = [cost(say.as_sent())]
    if say.attachments:
        extra.append(f"📎 {len(say.attachments)}")
    label.append(f"  ({', '.join(extra)})", style="dim")
    return label


def option_does(option: Option) -> str:
    """What a choice does, in a few words: "say · route Billing · ask order"."""
    parts = ["say"] if option.say is not None else []
    if option.route:
        parts.append(f"route {option.route}")
    if option.ask:
        parts.append(f"ask {option.ask}")
    if option.menu:
        parts.append(f"menu {option.menu}")
    if option.hand_off:
        parts.append("hand off")
    return " · ".join(parts) or "nothing"


def question_does(question: Question) -> str:
    parts = [f"→ {question.field or '(no field)'}"]
    if question.pattern:
        parts.append(f"/{question.pattern}/")
    parts.append(f"{question.tries} tries")
    if question.then_route:
        parts.append(f"then route {question.then_route}")
    if question.then_hand_off:
        parts.append("then hand off")
    return " · ".join(parts)


def fill_tree(tree: Tree[NodeRef], flow: Flow, *, keep: NodeRef | None = None) -> None:
    """Show ``flow`` in ``tree``, every node expanded, the cursor back on ``keep`` if it is
    still there."""
    tree.clear()
    root = tree.root
    root.data = ("root",)
    greeting = say_label("Greeting", flow.greeting)
    greeting.append(f"  start: {flow.start or '(no menu)'} · at most {flow.replies_per_hour}"
                    " bot texts an hour", style="dim")
    root.add_leaf(greeting, data=("greeting",))
    root.add_leaf(say_label("Out of hours", Say(flow.out_of_hours) if flow.out_of_hours
                            else None), data=("out_of_hours",))
    menus = root.add(Text(f"Menus ({len(flow.menus)})", style="bold"), data=("menus",),
                     expand=True)
    for menu in flow.menus.values():
        node = menus.add(say_label(f"{menu.id}", menu.prompt), data=("menu", menu.id),
                         expand=True)
        for index, option in enumerate(menu.options):
            label = Text(f"{option.key}", style="bold")
            label.append(f" {option.label}" if option.label else "")
            label.append(f"  {option_does(option)}", style="dim")
            if option.say is not None:
                label.append(f"  ({cost(option.say.as_sent())})", style="dim")
            node.add_leaf(label, data=("option", menu.id, index))
    questions = root.add(Text(f"Questions ({len(flow.questions)})", style="bold"),
                         data=("questions",), expand=True)
    for question in flow.questions.values():
        label = say_label(question.id, question.prompt)
        label.append(f"  {question_does(question)}", style="dim")
        questions.add_leaf(label, data=("question", question.id))
    keywords = root.add(Text(f"Keywords ({len(flow.keywords)})", style="bold"),
                        data=("keywords",), expand=True)
    for index, keyword in enumerate(flow.keywords):
        keywords.add_leaf(say_label(", ".join(keyword.words), keyword.say),
                          data=("keyword", index))
    hand_off = say_label("Hand-off", Say(flow.hand_off.text))
    if flow.hand_off.closed_text:
        hand_off.append(f" · closed: {short(flow.hand_off.closed_text, 24)}", style="dim")
    root.add_leaf(hand_off, data=("hand_off",))
    root.expand()
    if keep is not None:
        found = find_node(root, keep)
        if found is not None:
            tree.move_cursor(found)


def find_node(node: TreeNode[NodeRef], ref: NodeRef) -> TreeNode[NodeRef] | None:
    if node.data == ref:
        return node
    for child in node.children:
        found = find_node(child, ref)
        if found is not None:
            return found
    return None


class BotTree(Tree[NodeRef]):
    """The flow; enter edits the node under the cursor, a adds beside or under it, d deletes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "pane('edit_node')", "Edit", id="bot.edit"),
        Binding("a", "pane('add_node')", "Add", id="bot.add"),
        Binding("d", "pane('delete_node')", "Delete", id="bot.delete"),
        # Tree's own space expands; here it turns the bot on or off, as in the numbers.
        Binding("space", "pane('action_toggle_enabled')", "On/off", id="bot.toggle"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Flow", data=("root",), id=id)
        self.auto_expand = False
        self.show_root = False
        self.guide_depth = 3

    def action_pane(self, name: str) -> None:
        from tui.screens.admin.bot import BotPane  # the pane imports this module

        getattr(self.query_ancestor(BotPane), name)()

    @property
    def current(self) -> NodeRef | None:
        node = self.cursor_node
        return node.data if node is not None else None
