"""The module against Slicer's own rules for parameter nodes and .ui files (issue 16).

The slicer-core wheel has the MRML scene but neither Qt nor ``slicer.parameterNodeWrapper``,
so the ``.ui`` XML and the ``@parameterNodeWrapper`` class of ``BrainTumorAI.py`` are read
as text (``xml.etree``, ``ast``) and held to the rules of

    Base/Python/slicer/parameterNodeWrapper/guiConnectors.py, Slicer v5.10.0 (unchanged in
    v5.12.x and on main at 583e9b37, 2026-08-21), connectGui in wrapper.py alongside.

``createGuiConnector`` takes the first registered connector whose ``canRepresent(widget,
datatype)`` accepts the exact widget class (``type(widget) in (...)``) and the unannotated
type; none: RuntimeError, the panel does not open. Of the connectors:
- ``QDoubleSpinBoxCtkSliderWidgetToFloatIntConnector`` raises ``RuntimeError("Cannot have a
  connection to ctkSliderWidget where the float types is unbounded.")`` for a ctkSliderWidget
  or qMRMLSliderWidget without ``WithinRange`` or both ``Minimum`` and ``Maximum``;
- ``QSliderOrSpinBoxToIntConnector`` raises for an unbounded QSlider and sets an unbounded
  QSpinBox's range to -2**31..2**31-1, replacing the .ui's minimum (a special value text shown
  at the minimum then never shows) and maximum;
- ``QComboBoxToStringableConnector`` raises without a ``Choice`` annotation;
- the validators (validators.py) refuse values outside ``WithinRange`` / ``Choice``.
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "BrainTumorAI"
MODULE_SCRIPT = MODULE_DIR / "BrainTumorAI.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "BrainTumorAI.ui"
WIDGET_SOURCES = [MODULE_SCRIPT, *sorted((MODULE_DIR / "BrainTumorAIWidgetLib").glob("*.py"))]
PARAMETER_CLASS = "BrainTumorAIParameterNode"
PATH_TYPES = {"Path", "pathlib.Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath"}

# Widget class -> the unannotated types its connector accepts (canRepresent in guiConnectors.py).
CONNECTOR_TYPES = {
    "QCheckBox": {"bool"}, "ctkCheckBox": {"bool"},                     # QCheckBoxToBoolConnector
    "QPushButton": {"bool"}, "ctkCheckablePushButton": {"bool"},         # checkable push buttons
    "QSlider": {"int"}, "QSpinBox": {"int"},                             # QSliderOrSpinBoxToIntConnector
    **{name: {"float", "int"} for name in ("QDoubleSpinBox", "ctkSliderWidget", "qMRMLSliderWidget",
                                           "ctkDoubleSlider", "ctkDoubleSpinBox", "qMRMLSpinBox")},
    "QComboBox": {"int", "float", "str", "bool"}, "ctkComboBox": {"int", "float", "str", "bool"},
    "QLineEdit": {"str"}, "QLabel": {"str"}, "QTextEdit": {"str"},
    "ctkPathLineEdit": PATH_TYPES, "ctkDirectoryButton": PATH_TYPES,
    "ctkColorPickerButton": {"QColor", "qt.QColor"},
    "qMRMLNodeComboBox": {"vtkMRML*"},                                   # a node class or a union of them
}
# The connector raises for these without bounds ...
MUST_BE_BOUNDED = {"ctkSliderWidget", "qMRMLSliderWidget", "QSlider"}
# ... and replaces the range of these with +-inf or +-2**31: the project requires bounds on them too.
RANGE_REPLACED = {"QSpinBox", "QDoubleSpinBox", "ctkDoubleSpinBox", "qMRMLSpinBox", "ctkDoubleSlider"}
NEEDS_CHOICE = {"QComboBox", "ctkComboBox"}


# --------------------------------------------------------------------------- reading the sources

def module_constants(tree: ast.Module) -> dict:
    """Module-level NAME = <literal> assignments (the Choice lists)."""
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return constants


def parameters(source: str) -> dict:
    """Field -> {"type": unannotated type, "validators": {name: args}, "default": value or None}."""
    tree = ast.parse(source)
    constants = module_constants(tree)

    def value(node):
        return constants[node.id] if isinstance(node, ast.Name) and node.id in constants else ast.literal_eval(node)

    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == PARAMETER_CLASS:
            assert [ast.unparse(d) for d in node.decorator_list] == ["parameterNodeWrapper"]
            fields = {}
            for statement in node.body:
                if not isinstance(statement, ast.AnnAssign):
                    continue
                annotation, validators = statement.annotation, {}
                if isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value) == "Annotated":
                    base, *extras = annotation.slice.elts
                    for extra in extras:
                        assert isinstance(extra, ast.Call), ast.unparse(extra)
                        validators[ast.unparse(extra.func)] = [value(a) for a in extra.args]
                    annotation = base
                default = ast.literal_eval(statement.value) if statement.value is not None else None
                fields[statement.target.id] = {"type": ast.unparse(annotation), "validators": validators,
                                               "default": default}
            return fields
    raise AssertionError(f"{PARAMETER_CLASS} is missing from BrainTumorAI.py")


def ui_widgets(text: str) -> dict[str, ET.Element]:
    return {w.get("name"): w for w in ET.fromstring(text).iter("widget")}


def widget_property(widget: ET.Element, name: str):
    for prop in widget.findall("property"):
        if prop.get("name") == name:
            child = next(iter(prop))
            return child.text if child.tag in ("string", "enum", "set") else ast.literal_eval(child.text)
    return None


def bounds(field: dict) -> Optional[tuple]:
    """(minimum, maximum) the connector sets from the annotations, None when unbounded."""
    validators = field["validators"]
    if "WithinRange" in validators:
        return tuple(validators["WithinRange"])
    if "Minimum" in validators and "Maximum" in validators:
        return validators["Minimum"][0], validators["Maximum"][0]
    return None


def violations(module_source: str, ui_text: str) -> list[str]:
    """Every way the .ui and the parameter class break Slicer's connector rules (empty: conforms)."""
    fields, widgets, problems = parameters(module_source), ui_widgets(ui_text), []
    for name, widget in widgets.items():
        parameter = widget_property(widget, "SlicerParameterName")
        if parameter is None:
            continue
        kind = widget.get("class")
        if parameter not in fields:
            problems.append(f"{name} is bound to '{parameter}', which {PARAMETER_CLASS} does not have")
            continue
        field = fields[parameter]
        accepted = CONNECTOR_TYPES.get(kind)
        if accepted is None:
            problems.append(f"{name}: Slicer has no parameter connector for a {kind}")
            continue
        type_ok = (field["type"].startswith("vtkMRML") and all(t.strip().startswith("vtkMRML")
                                                                for t in field["type"].split("|"))
                   if accepted == {"vtkMRML*"} else field["type"] in accepted)
        if not type_ok:
            problems.append(f"{name}: a {kind} cannot represent '{parameter}' of type {field['type']}")
            continue
        limits = bounds(field)
        if kind in MUST_BE_BOUNDED | RANGE_REPLACED and limits is None:
            problems.append(f"{name}: '{parameter}' is an unbounded {field['type']} on a {kind}; "
                            "annotate it with WithinRange (Slicer " + ("raises" if kind in MUST_BE_BOUNDED else
                                                                       "replaces the .ui's range") + ")")
        if limits is not None:
            for side, limit in zip(("minimum", "maximum"), limits):
                in_ui = widget_property(widget, side)
                if in_ui is not None and in_ui != limit:
                    problems.append(f"{name}: the .ui's {side} {in_ui} is replaced by '{parameter}''s {limit}")
            if field["default"] is not None and not limits[0] <= field["default"] <= limits[1]:
                problems.append(f"'{parameter}': default {field['default']} is outside {limits}")
        if kind in NEEDS_CHOICE:
            choices = field["validators"].get("Choice")
            if not choices:
                problems.append(f"{name}: a {kind} needs a Choice annotation on '{parameter}'")
            elif field["default"] is not None and field["default"] not in choices[0]:
                problems.append(f"'{parameter}': default {field['default']!r} is not one of its choices")
    return problems


# --------------------------------------------------------------------------- the rules

def test_every_bound_widget_has_a_slicer_connector_and_every_number_has_bounds():
    problems = violations(MODULE_SCRIPT.read_text(), UI_FILE.read_text())
    assert not problems, "\n".join(problems)
    fields = parameters(MODULE_SCRIPT.read_text())
    # The spin boxes' lowest values are their "unknown" special value: the bounds keep them there.
    widgets = ui_widgets(UI_FILE.read_text())
    for widget, parameter in (("ageSpinBox", "ageYears"), ("kpsSpinBox", "kps")):
        assert widget_property(widgets[widget], "specialValueText") == "unknown"
        assert bounds(fields[parameter])[0] == fields[parameter]["default"] == widget_property(widgets[widget], "minimum")
    for parameter in ("overlayOpacity", "overlayThreshold"):
        assert bounds(fields[parameter]) == (0.0, 1.0)


@pytest.mark.parametrize("planted, says", [
    # The blocker of issue 16: plain floats on the two ctkSliderWidgets.
    (("overlayOpacity: Annotated[float, WithinRange(0.0, 1.0)]", "overlayOpacity: float"),
     "'overlayOpacity' is an unbounded float on a ctkSliderWidget"),
    (("ageYears: Annotated[int, WithinRange(-1, 120)]", "ageYears: int"),
     "'ageYears' is an unbounded int on a QSpinBox"),
    (("kps: Annotated[int, WithinRange(-10, 100)]", "kps: Annotated[int, WithinRange(0, 100)]"),
     "the .ui's minimum -10 is replaced by 'kps''s 0"),
    (('saliencyMethod: Annotated[str, Choice(SALIENCY_CHOICES)]', "saliencyMethod: str"),
     "needs a Choice annotation on 'saliencyMethod'"),
    (("modelPath: Path", "modelPath: str"), "a ctkPathLineEdit cannot represent 'modelPath' of type str"),
])
def test_the_rules_catch_each_planted_mistake(planted, says):
    source = MODULE_SCRIPT.read_text()
    assert planted[0] in source
    problems = violations(source.replace(planted[0], planted[1]), UI_FILE.read_text())
    assert any(says in p for p in problems), problems


def test_a_widget_class_slicer_cannot_connect_is_caught():
    ui = UI_FILE.read_text().replace('class="QCheckBox" name="useCPUCheckBox"', 'class="QRadioButton" name="useCPUCheckBox"')
    assert any("no parameter connector for a QRadioButton" in p for p in violations(MODULE_SCRIPT.read_text(), ui))


def test_every_ui_name_the_widget_code_looks_up_exists_in_the_ui():
    from BrainTumorAILib.panel_controller import BUTTONS

    widgets = ui_widgets(UI_FILE.read_text())
    used = set()
    for path in WIDGET_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and (
                    (isinstance(node.value, ast.Attribute) and node.value.attr == "ui")
                    or (isinstance(node.value, ast.Name) and node.value.id == "ui")):
                used.add(node.attr)
    tree = ast.parse(MODULE_SCRIPT.read_text())
    slots = module_constants(tree)["BUTTON_SLOTS"]
    used |= set(slots) | {f"{name}Button" for name in BUTTONS}  # set_buttons: getattr(ui, f"{name}Button")
    assert {"classifyButton", "cancelButton", "opacitySliderWidget", "statusLabel", "visitsTable"} & used
    missing = sorted(used - set(widgets))
    assert not missing, f"the widget code looks up names the .ui does not define: {missing}"
    # Every button has its slot, and the controller's button states name exactly those buttons.
    widget_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "BrainTumorAIWidget")
    methods = {f.name for f in widget_class.body if isinstance(f, ast.FunctionDef)}
    assert set(slots.values()) <= methods, set(slots.values()) - methods
    assert {f"{name}Button" for name in BUTTONS} == set(slots)


def test_selectors_take_scalar_volumes_and_get_the_scene():
    widgets, fields = ui_widgets(UI_FILE.read_text()), parameters(MODULE_SCRIPT.read_text())
    for modality in ("t1", "t1c", "t2", "flair", "ct", "pet"):
        selector = widgets[f"{modality}Selector"]
        assert selector.get("class") == "qMRMLNodeComboBox"
        assert widget_property(selector, "SlicerParameterName") == f"{modality}Volume"
        assert fields[f"{modality}Volume"]["type"] == "vtkMRMLScalarVolumeNode"
    receivers = {c.findtext("receiver") for c in ET.parse(UI_FILE).iter("connection")
                 if c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"}
    assert {f"{m}Selector" for m in ("t1", "t1c", "t2", "flair", "ct", "pet")} <= receivers
    from BrainTumorAILib.panel_options import SALIENCY_METHODS

    assert parameters(MODULE_SCRIPT.read_text())["saliencyMethod"]["validators"]["Choice"][0] == list(SALIENCY_METHODS)


def test_the_module_needs_slicer_5_10_everywhere_it_says_so():
    """Slicer 5.8 ships Python 3.9 (SuperBuild/External_python.cmake: 3.9.10), 5.10 ships 3.12.10;
    the module's code (``X | None``, parameterNodeWrapper of 5.10) needs 5.10."""
    texts = {"README.md": (ROOT / "README.md").read_text(), "CMakeLists.txt": (ROOT / "CMakeLists.txt").read_text(),
             "BrainTumorAI.py": MODULE_SCRIPT.read_text()}
    for name, text in texts.items():
        assert re.search(r"Slicer 5\.10 or later", text), f"{name} does not say Slicer 5.10 or later"
        assert not re.search(r"Slicer 5\.8 or later", text), f"{name} still claims Slicer 5.8"
    assert 'Slicer_REQUIRED_PYTHON_VERSION VERSION_LESS "3.10"' in texts["CMakeLists.txt"]
