"""The panel as ``BrainTumorAILib.panel_controller.PanelController`` sees it: its *view*.

A mixin of the module's widget (which has ``ui``, ``logic``, ``controller``, ``_pollTimer``
and ``_parameterNode``): status line, progress bar, buttons, error dialog, timer, wait
cursor, the results table and labels, and the survival chart and table in the layout.
"""

import contextlib

import qt

import slicer
from slicer.i18n import tr as _


class PanelView:
    def set_status(self, text: str) -> None:
        self.ui.statusLabel.text = text

    def set_progress(self, fraction) -> None:
        self.ui.progressBar.setVisible(fraction is not None)
        if fraction is not None:
            self.ui.progressBar.value = int(round(100 * fraction))

    def set_buttons(self, states: dict) -> None:
        for name, enabled in states.items():
            getattr(self.ui, f"{name}Button").enabled = enabled

    def show_error(self, text: str, details: str) -> None:
        slicer.util.errorDisplay(text, detailedText=details or None)

    def start_polling(self) -> None:
        self._pollTimer.start()

    def stop_polling(self) -> None:
        if self._pollTimer is not None:
            self._pollTimer.stop()

    def busy(self):
        return slicer.util.WaitCursor() if slicer.app.layoutManager() is not None else contextlib.nullcontext()

    def show_classification(self, run) -> None:
        from BrainTumorAILib import modality_weights_text, result_table_rows, warnings_text

        data = run.output.data if run else {}
        rows = result_table_rows(data) if run else []
        self._fillTable(self.ui.resultsTable, [[(n, None), (p, None), ("\u2713" if s else "", None)]
                                               for n, p, s in rows], bold={i for i, row in enumerate(rows) if row[2]})
        self.ui.modalityWeightsLabel.text = modality_weights_text(data) if run else ""
        self.ui.warningsLabel.text = warnings_text(data) if run else ""
        combo = self.ui.saliencyMapComboBox
        combo.blockSignals(True)
        combo.clear()
        for name in self.logic.workflow.saliency_nodes():
            combo.addItem(_("Fused (all modalities)") if name == "fused" else name, name)
        combo.blockSignals(False)
        combo.enabled = combo.count > 0
        if run and not self.controller.visits and self._parameterNode is not None:
            self.onRefreshVisits()

    def show_survival(self, run) -> None:
        from BrainTumorAILib.panel_text import survival_text

        self.ui.survivalLabel.text = survival_text(run.data)
        self.showSurvivalInLayout(run.nodes)

    @staticmethod
    def showSurvivalInLayout(nodes: dict) -> None:
        """The survival chart and its table in a layout that has a plot and a table view."""
        layoutManager = slicer.app.layoutManager()
        if layoutManager is None:
            return
        layoutManager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableView)
        slicer.modules.plots.logic().ShowChartInLayout(nodes["chart"].chart)
        selection = slicer.app.applicationLogic().GetSelectionNode()
        selection.SetActiveTableID(nodes["curve"].GetID())
        slicer.app.applicationLogic().PropagateTableSelection()

    @staticmethod
    def _fillTable(table, rows, editableColumn=-1, bold=()) -> None:
        """Rows of ``(text, checked or None)`` cells; checked cells are check boxes."""
        table.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for column, (text, checked) in enumerate(cells):
                item = qt.QTableWidgetItem(text)
                item.setFlags(qt.Qt.ItemIsEnabled | (qt.Qt.ItemIsEditable if column == editableColumn else 0)
                              | (qt.Qt.ItemIsUserCheckable if checked is not None else 0))
                if checked is not None:
                    item.setCheckState(qt.Qt.Checked if checked else qt.Qt.Unchecked)
                if row in bold:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(row, column, item)
        table.resizeColumnsToContents()

