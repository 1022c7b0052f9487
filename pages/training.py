"""Training: per-epoch curves of one or several versions, their final metrics, and the
comparison report of all models."""
import streamlit as st

from recsys.app import RecsysError, charts, session, widgets

st.title("Training")
rows = [r for r in session.artifact_rows() if "error" not in r]
if not rows:
    st.info("No trained model yet. `make models` trains the default models on the embedded data.")
    st.stop()
labels = {session.version_label(r["model"], r["version"]): r for r in rows}
served = session.served()
default = [served.label] if served and served.label in labels else [next(iter(labels))]
picked = st.multiselect("Versions to compare", list(labels), default=default, key="training_versions")
widgets.metrics_glossary()

if not picked:
    st.info("Pick at least one version above to see its training curves and final metrics.")
else:
    curves = {}
    for label in picked:
        try:
            curves[label] = session.curves(labels[label]["path"])
        except RecsysError as exc:
            widgets.error(f"{label} is unavailable", exc)

    long = charts.curves_long(curves)
    if long.empty:
        st.info("No per-epoch curves for these versions (baselines such as popularity or ItemKNN are "
                "fitted in one step). Pick a GNN version above.")
    else:
        metrics = list(dict.fromkeys(long["metric"]))
        shown = st.multiselect("Curves", metrics, default=metrics, key="training_metrics")
        # Two side by side on a wide screen; Streamlit stacks columns on a phone.
        for start in range(0, len(shown), 2):
            for column, metric in zip(st.columns(2), shown[start:start + 2]):
                column.altair_chart(charts.curves_chart(long, metric), width="stretch")

    st.subheader("Final metrics")
    st.dataframe(widgets.metrics_table({label: labels[label].get("metrics") or {} for label in picked}),
                 width="stretch")

st.subheader("Model comparison")
widgets.comparison_report(session.models_dir())
